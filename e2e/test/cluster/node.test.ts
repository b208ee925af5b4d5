// The local one-node cluster end to end: cluster-up.sh -> a Ready node with RuntimeClass gvisor ->
// smoke.sh (runc and gVisor pods, exec, logs, port-forward, ClusterIP Service, NetworkPolicy,
// timings, memory) -> cluster-down.sh -> verify-clean.sh. Needs root and the builds of
// build-control-plane.sh and build-node.sh. Not part of the default jest projects:
//   node --experimental-vm-modules node_modules/jest/bin/jest.js -c e2e/test/cluster/jest.config.js
// State dir: $SANDBANK_CLUSTER_STATE or <cache>/cluster-state (one local cluster per machine).
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, NodeV1Api } from '@kubernetes/client-node';
import { clusterDir } from '../../src/cluster/paths.js';
import { run } from '../../src/cluster/process.js';
import { startLocalCluster, verifyClean } from '../../src/cluster/node.js';
import type { LocalCluster } from '../../src/cluster/node.js';

let cluster: LocalCluster;
let kc: KubeConfig;

beforeAll(async () => {
  cluster = await startLocalCluster();
  kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
}, 180_000);

afterAll(async () => {
  if (!cluster) return;
  await cluster.stop();
  if (!cluster.reused) await expect(verifyClean(cluster.stateDir)).resolves.toContain('clean');
}, 180_000);

test('the node is Ready, runs containerd and advertises this machine', async () => {
  const nodes = await kc.makeApiClient(CoreV1Api).listNode();
  expect(nodes.items).toHaveLength(1);
  const node = nodes.items[0];
  expect(node?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  expect(node?.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
  expect(node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).toBe(cluster.nodeIp);
});

test('RuntimeClass gvisor maps to the runsc handler', async () => {
  const rc = await kc.makeApiClient(NodeV1Api).readRuntimeClass({ name: 'gvisor' });
  expect(rc.handler).toBe('runsc');
});

test('smoke.sh: runc and gVisor pods, exec, logs, port-forward, Service, NetworkPolicy', async () => {
  const lines: string[] = [];
  await run('bash', [join(clusterDir, 'smoke.sh'), cluster.stateDir], {
    onStderrLine: (line) => {
      lines.push(line);
      process.stderr.write(`${line}\n`);
    },
  });
  expect(lines.filter((l) => l.includes('FAIL'))).toEqual([]);
  expect(lines.some((l) => l.includes('smoke: all checks passed'))).toBe(true);
}, 300_000);
