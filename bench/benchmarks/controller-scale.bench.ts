/**
 * The controller at 1,000 sandboxes on the real apiserver + etcd + kwok: its resident memory, and
 * how long a restarted process takes to be useful again — from spawning the process until every
 * informer cache is synced (`/readyz`) and every claim has been reconciled once (the claim
 * controller's reconcile counter reaches the claim count and the claim and Sandbox work queues
 * are empty), read from its `/metrics`.
 *
 * The controller runs as its own OS process (main.ts bundled by esbuild, run by plain node):
 * memory and restart are properties of that process, and plain node carries no TypeScript loader
 * to inflate either.
 */
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi } from '@kubernetes/client-node';
import {
  ClaimTracker,
  type ControllerProcess,
  EXT,
  bundleController,
  claimBody,
  createNamespace,
  createTemplate,
  deleteNamespace,
  ensureRuntimeClass,
  mapLimit,
  metricValue,
  startController,
  waitControllerReady,
} from '@sandbank/testing';
import { controlPlane } from './support/control-plane.js';
import type { Benchmark } from '../src/index.js';

const SANDBOXES = 1000;
const RESTARTS = 3;
const TEMPLATE = 'scale-template';
const MB = 1024 * 1024;

const benchmark: Benchmark = {
  title: 'controller: RSS with 1,000 sandboxes, resync after restart',
  needs: 'control-plane',
  async run(ctx) {
    const { log } = ctx;
    const { kc, kubeconfigPath } = controlPlane(ctx);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const ns = `bench-scale-${randomBytes(3).toString('hex')}`;
    await ensureRuntimeClass(kc);
    await createNamespace(kc, ns);
    await createTemplate(kc, ns, TEMPLATE);
    const tracker = new ClaimTracker(kc, ns);
    const script = bundleController();
    const start = () => startController({ kubeconfigPath, namespace: ns, script, logLevel: 'error' });
    let controller: ControllerProcess | undefined;

    try {
      await tracker.started;
      controller = await start();
      await waitControllerReady(controller);

      // 1,000 claims, each a cold Sandbox with its own Pod (warmpool: none): 3,000 objects.
      const t0 = performance.now();
      await mapLimit(
        Array.from({ length: SANDBOXES }, (_, i) => `scale-${i}`),
        50,
        async (name) => {
          const body = claimBody(name, TEMPLATE);
          await custom.createNamespacedCustomObject({
            ...EXT,
            namespace: ns,
            plural: 'sandboxclaims',
            body: { ...body, spec: { sandboxTemplateRef: { name: TEMPLATE }, warmpool: 'none' } },
          });
        },
      );
      log(`created ${SANDBOXES} claims in ${Math.round(performance.now() - t0)} ms`);
      await tracker.waitReadyCount(SANDBOXES, 600_000);
      log(`${SANDBOXES} claims Ready after ${Math.round(performance.now() - t0)} ms`);

      // Settled: sample RSS once a second for 5 s.
      const rss: number[] = [];
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        rss.push(controller.rssBytes() / MB);
      }

      // Restart: a fresh process, timed from spawn to caches synced and every claim reconciled.
      const synced: number[] = [];
      const reconciled: number[] = [];
      const rssAfter: number[] = [];
      for (let i = 0; i < RESTARTS; i++) {
        await controller.kill('SIGKILL');
        controller = await start();
        const proc = controller;
        await waitControllerReady(proc, 60_000);
        synced.push(performance.now() - proc.startedAt);
        const deadline = performance.now() + 60_000;
        for (;;) {
          const metrics = (await proc.http('/metrics'))?.body ?? '';
          const claims = metricValue(metrics, 'sandbank_reconcile_total', { controller: 'sandboxclaim' });
          const depth =
            metricValue(metrics, 'sandbank_workqueue_depth', { controller: 'sandboxclaim' }) +
            metricValue(metrics, 'sandbank_workqueue_depth', { controller: 'sandbox' });
          if (claims >= SANDBOXES && depth === 0) break;
          if (performance.now() > deadline)
            throw new Error(`resync: ${claims} claim reconciles, depth ${depth}`);
          await new Promise((r) => setTimeout(r, 10));
        }
        reconciled.push(performance.now() - proc.startedAt);
        await new Promise((r) => setTimeout(r, 2000));
        rssAfter.push(proc.rssBytes() / MB);
        log(
          `restart ${i + 1}: synced ${Math.round(synced[i] ?? 0)} ms, reconciled ${Math.round(reconciled[i] ?? 0)} ms`,
        );
      }

      const params = {
        sandboxes: SANDBOXES,
        objects: 'claim + Sandbox + Pod each',
        controller: 'process (plain node)',
      };
      return [
        { name: 'controller-rss-1000-sandboxes', unit: 'MB', samples: rss, target: 150, params },
        {
          name: 'controller-rss-1000-sandboxes-after-resync',
          unit: 'MB',
          samples: rssAfter,
          target: 150,
          params,
        },
        {
          name: 'controller-resync-caches-synced',
          unit: 'ms',
          samples: synced,
          params: { ...params, from: 'process spawn', to: '/readyz 200 (every informer synced)' },
        },
        {
          name: 'controller-resync-all-reconciled',
          unit: 'ms',
          samples: reconciled,
          target: 5000,
          params: {
            ...params,
            from: 'process spawn',
            to: 'every claim reconciled once, claim + sandbox queues empty (/metrics, polled every 10 ms)',
          },
        },
      ];
    } finally {
      tracker.stop();
      await controller?.kill('SIGKILL');
      await deleteNamespace(kc, ns);
    }
  },
};

export default benchmark;
