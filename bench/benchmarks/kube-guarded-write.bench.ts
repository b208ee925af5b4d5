/**
 * The controller's own API client on the real apiserver + etcd: a guarded write (replace at the
 * object's resourceVersion, as every bind does) one after the other on a kept-alive connection,
 * and how many of those writes had to open a new connection. On loopback a write takes a few
 * milliseconds; a TLS handshake per call would about double that. The integration test checks
 * the reuse itself; the time is measured here.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeClient } from '../../controller/src/kube/client.js';
import { CONFIG_MAPS } from '../../controller/src/kube/resources.js';
import { createTransport } from '../../controller/src/kube/transport.js';
import type { KubeObject } from '../../controller/src/kube/types.js';
import { createNamespace, deleteNamespace } from '../../controller/test/integration/kube/support.js';
import type { Benchmark } from '../src/index.js';

const WARMUP = 20;
const SAMPLES = 300;

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const benchmark: Benchmark = {
  title: 'guarded write (replace at resourceVersion) through the controller client',
  needs: 'control-plane',
  async run({ kubeconfigPath, log }) {
    if (!kubeconfigPath) throw new Error('needs a control plane');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const transport = createTransport(kc);
    const client = createKubeClient(kc, { transport });
    const namespace = await createNamespace(client, 'bench-write');

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
      await deleteNamespace(client, namespace);
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
