/**
 * The controller's own API client on the real apiserver + etcd: a guarded write (replace at the
 * object's resourceVersion, as every bind does) one after the other on a kept-alive connection,
 * and how many of those writes had to open a new connection. On loopback a write takes a few
 * milliseconds; a TLS handshake per call would about double that. The integration test checks
 * the reuse itself; the time is measured here.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { CONFIG_MAPS, NAMESPACES, createKubeClient, createTransport } from '@sandbank/kube';
import type { KubeObject } from '@sandbank/kube';
import { controlPlane } from './support/control-plane.js';
import type { Benchmark } from '../src/index.js';

const WARMUP = 20;
const SAMPLES = 300;

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const benchmark: Benchmark = {
  title: 'guarded write (replace at resourceVersion) through the controller client',
  needs: 'control-plane',
  async run(ctx) {
    const { log } = ctx;
    const { kc } = controlPlane(ctx);
    const transport = createTransport(kc);
    const client = createKubeClient(kc, { transport });
    const namespace = (await client.create(NAMESPACES, '', { metadata: { generateName: 'bench-write-' } }))
      .metadata.name;

    const samples: number[] = [];
    const sent: ClientRequest[] = [];
    const onRequest = (message: unknown): void => {
      sent.push((message as { request: ClientRequest }).request);
    };
    try {
      let obj = await client.create<ConfigMap>(CONFIG_MAPS, namespace, {
        metadata: { name: 'target' },
        data: { n: '0' },
      });
      for (let i = 1; i <= WARMUP + SAMPLES; i++) {
        if (i === WARMUP + 1) subscribe('http.client.request.start', onRequest);
        const t = performance.now();
        obj = await client.replace<ConfigMap>(CONFIG_MAPS, namespace, { ...obj, data: { n: String(i) } });
        if (i > WARMUP) samples.push(performance.now() - t);
        if (i % 100 === 0) log(`${i}/${WARMUP + SAMPLES}`);
      }
    } finally {
      unsubscribe('http.client.request.start', onRequest);
      await client.delete(NAMESPACES, '', namespace);
      transport.close();
    }
    const newConnections = sent.filter((req) => !req.reusedSocket).length;
    log(`${newConnections} of ${sent.length} measured writes opened a new connection`);
    return [
      {
        name: 'kube-guarded-write',
        unit: 'ms',
        samples,
        params: { writes: SAMPLES, sequential: true, newConnections },
      },
    ];
  },
};

export default benchmark;
