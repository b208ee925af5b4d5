/**
 * The floor under every claim latency on this machine: a SandboxClaim created through the real
 * kube-apiserver + etcd, seen by a watch. Nothing of Sandbank's controller is involved; a warm
 * claim can never be faster than this round trip.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import type { Benchmark } from '../src/index.js';
import { getJson } from '@sandbank/e2e';

const SAMPLES = 200;
const GROUP = 'extensions.agents.x-k8s.io';
const VERSION = 'v1alpha1';
const PLURAL = 'sandboxclaims';

const benchmark: Benchmark = {
  title: 'claim create → seen by a watch (real apiserver)',
  needs: 'control-plane',
  async run({ kubeconfigPath, log }) {
    if (!kubeconfigPath) throw new Error('needs a control plane');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const namespace = `bench-watch-${randomBytes(3).toString('hex')}`;
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });

    const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`;
    // Right after the CRDs are applied the collection answers 429 "storage is (re)initializing"
    // for a moment; a watch opened then ends at once. Wait until it lists.
    for (const deadline = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 250))) {
      try {
        await getJson(kc, path);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }

    const created = new Map<string, number>();
    const samples: number[] = [];
    let resolveSeen: (() => void) | undefined;
    // A watch that ends mid-run must fail the benchmark, not leave it waiting for an event that
    // never comes (Node would then exit 0 with nothing written).
    let rejectEnded: ((e: Error) => void) | undefined;
    const ended = new Promise<never>((_, reject) => (rejectEnded = reject));
    ended.catch(() => undefined);
    const watch = await new Watch(kc).watch(
      path,
      {},
      (type: string, obj: { metadata?: { name?: string } }) => {
        const start = created.get(obj.metadata?.name ?? '');
        if (type === 'ADDED' && start !== undefined) {
          samples.push(performance.now() - start);
          resolveSeen?.();
        }
      },
      (err: unknown) =>
        rejectEnded?.(
          new Error(`the watch ended during the benchmark: ${String(err ?? 'closed by the server')}`),
        ),
    );
    try {
      for (let i = 0; i < SAMPLES; i++) {
        const name = `claim-${i}`;
        const seen = new Promise<void>((resolve) => (resolveSeen = resolve));
        created.set(name, performance.now());
        await custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace,
          body: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'SandboxClaim',
            metadata: { name },
            spec: { sandboxTemplateRef: { name: 't' } },
          },
        });
        await Promise.race([seen, ended]);
        if ((i + 1) % 50 === 0) log(`${i + 1}/${SAMPLES}`);
      }
    } finally {
      watch.abort();
      await kc.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace });
    }
    return [
      {
        name: 'apiserver-create-to-watch',
        unit: 'ms',
        samples,
        params: { objects: SAMPLES, kind: 'SandboxClaim' },
      },
    ];
  },
};

export default benchmark;
