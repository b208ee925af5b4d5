// What the cluster suite's global setup and teardown do (loaded by cluster-global-setup.ts and
// cluster-global-teardown.ts): ONE local cluster with Sandbank for the whole run, as `make up`
// brings it up (up.sh --no-quickstart), stopped and checked clean afterwards. Tests find it
// through SANDBANK_CLUSTER_STATE. A cluster that already ran (a developer's `make up`) is used
// and left running.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultClusterStateDir, startLocalCluster, stopLocalCluster, verifyClean } from '../cluster/node.js';
import type { LocalCluster } from '../cluster/node.js';

const key = Symbol.for('sandbank.e2e.localCluster');
type Holder = { [key]?: LocalCluster | undefined };

const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

export async function setUpLocalCluster(): Promise<void> {
  const stateDir = process.env['SANDBANK_CLUSTER_STATE'] ?? defaultClusterStateDir();
  const ranBefore = existsSync(join(stateDir, '.sandbank-cluster'));
  const t0 = performance.now();
  process.stderr.write('\n');
  let cluster: LocalCluster;
  try {
    cluster = await startLocalCluster({ stateDir, withSandbank: true, onProgress: progress });
  } catch (err) {
    // a half-started cluster of our own is stopped; one that ran before is left to its owner
    if (!ranBefore) {
      await stopLocalCluster(stateDir, progress).catch(() => undefined);
      await verifyClean(stateDir).catch((e: unknown) => progress(String(e)));
    }
    throw err;
  }
  (globalThis as Holder)[key] = cluster;
  process.env['SANDBANK_CLUSTER_STATE'] = cluster.stateDir;
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  progress(`[sandbank] cluster with Sandbank ${cluster.reused ? 'reused' : 'started'} in ${secs} s`);
}

export async function tearDownLocalCluster(): Promise<void> {
  const cluster = (globalThis as Holder)[key];
  (globalThis as Holder)[key] = undefined;
  if (!cluster) return;
  if (cluster.reused) {
    progress(`[sandbank] the cluster in ${cluster.stateDir} ran before the suite: left running`);
    return;
  }
  await cluster.stop();
  progress(await verifyClean(cluster.stateDir));
}
