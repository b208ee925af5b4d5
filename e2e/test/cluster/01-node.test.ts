// The node itself: Ready, containerd, this machine's address, RuntimeClass gvisor, and smoke.sh
// (runc and gVisor pods, exec, logs, port-forward, ClusterIP Service, NetworkPolicy, timings,
// memory) on the cluster of the global setup.
import { join } from 'node:path';
import { CoreV1Api, NodeV1Api } from '@kubernetes/client-node';
import { clusterDir } from '../../src/cluster/paths.js';
import { run } from '../../src/cluster/process.js';
import { cluster } from './helpers.js';
import type { Cluster } from './helpers.js';

let c: Cluster;

beforeAll(() => {
  c = cluster();
});

test('the node is Ready, runs containerd and advertises this machine', async () => {
  const nodes = await c.kc.makeApiClient(CoreV1Api).listNode();
  expect(nodes.items).toHaveLength(1);
  const node = nodes.items[0];
  expect(node?.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
  expect(node?.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
  expect(node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).toBe(c.nodeIp);
});

test('RuntimeClass gvisor maps to the runsc handler', async () => {
  const rc = await c.kc.makeApiClient(NodeV1Api).readRuntimeClass({ name: 'gvisor' });
  expect(rc.handler).toBe('runsc');
});

test('smoke.sh: runc and gVisor pods, exec, logs, port-forward, Service, NetworkPolicy', async () => {
  const lines: string[] = [];
  await run('bash', [join(clusterDir, 'smoke.sh'), c.stateDir], {
    onStderrLine: (line) => {
      lines.push(line);
      process.stderr.write(`${line}\n`);
    },
  });
  expect(lines.filter((l) => l.includes('FAIL'))).toEqual([]);
  expect(lines.some((l) => l.includes('smoke: all checks passed'))).toBe(true);
}, 300_000);
