/**
 * The floor under every claim latency on this machine: a SandboxClaim created through the real
 * kube-apiserver + etcd, seen by a watch. Nothing of Sandbank's controller is involved; a warm
 * claim can never be faster than this round trip.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { watchCollection } from '@sandbank/testing';
import { controlPlane } from './support/control-plane.js';
import type { Benchmark } from '../src/index.js';

const SAMPLES = 200;
const GROUP = 'extensions.agents.x-k8s.io';
const VERSION = 'v1alpha1';
const PLURAL = 'sandboxclaims';

const benchmark: Benchmark = {
  title: 'claim create → seen by a watch (real apiserver)',
  needs: 'control-plane',
  async run(ctx) {
    const { log } = ctx;
    const { kc } = controlPlane(ctx);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const namespace = `bench-watch-${randomBytes(3).toString('hex')}`;
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });

    const created = new Map<string, number>();
    const samples: number[] = [];
    let resolveSeen: (() => void) | undefined;
    // The shared collection watch: it waits out a fresh CRD's 429s and resumes a watch the
    // server ends, so no event is missed and the run never hangs on one.
    const watch = watchCollection(
      kc,
      `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`,
      (type, obj, atMs) => {
        const start = created.get(obj.metadata.name);
        if (type === 'ADDED' && start !== undefined) {
          samples.push(atMs - start);
          resolveSeen?.();
        }
      },
    );
    await watch.started;
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
        await seen;
        if ((i + 1) % 50 === 0) log(`${i + 1}/${SAMPLES}`);
      }
    } finally {
      watch.stop();
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
