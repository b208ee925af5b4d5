// Where the cluster scripts live and where build-control-plane.sh put the binaries
// ($SANDBANK_CACHE/<part>-<version>/bin, versions pinned in e2e/cluster/versions.env).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is e2e/src/cluster/paths.ts). */
export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
/** e2e/cluster: the shell scripts and versions.env. */
export const clusterDir = join(repoRoot, 'e2e', 'cluster');

export interface ClusterVersions {
  kubernetes: string;
  etcd: string;
  kwok: string;
}

/** Reads the pinned versions from e2e/cluster/versions.env. */
export function clusterVersions(): ClusterVersions {
  const env = new Map<string, string>();
  for (const line of readFileSync(join(clusterDir, 'versions.env'), 'utf8').split('\n')) {
    const m = /^\s*([A-Z_]+)=(\S+)\s*$/.exec(line);
    if (m?.[1] && m[2]) env.set(m[1], m[2]);
  }
  const get = (key: string): string => {
    const value = env.get(key);
    if (!value) throw new Error(`${key} is missing from ${join(clusterDir, 'versions.env')}`);
    return value;
  };
  return { kubernetes: get('KUBERNETES_VERSION'), etcd: get('ETCD_VERSION'), kwok: get('KWOK_VERSION') };
}

/** $SANDBANK_CACHE, else $XDG_CACHE_HOME/sandbank, else ~/.cache/sandbank (as lib/common.sh). */
export function sandbankCache(): string {
  return (
    process.env['SANDBANK_CACHE'] ??
    join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'sandbank')
  );
}

export type ClusterBinaryName =
  | 'etcd'
  | 'kwok'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'kubelet'
  | 'kube-proxy';

/** Absolute path of a built binary, e.g. `clusterBinary('kubectl')`; it may not exist yet. */
export function clusterBinary(name: ClusterBinaryName): string {
  const v = clusterVersions();
  const part =
    name === 'etcd' ? `etcd-${v.etcd}` : name === 'kwok' ? `kwok-${v.kwok}` : `kubernetes-${v.kubernetes}`;
  return join(sandbankCache(), part, 'bin', name);
}

/** Throws, telling to run `make cluster-build`, if a binary the control plane needs is missing. */
export function assertControlPlaneBuilt(): void {
  const needed: ClusterBinaryName[] = [
    'etcd',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kubectl',
    'kwok',
  ];
  // build-control-plane.sh writes <part>/.built last; without it a build was interrupted.
  const stamps = needed.map((name) => join(clusterBinary(name), '..', '..', '.built'));
  const missing = [...new Set([...needed.map(clusterBinary), ...stamps])].filter((path) => !existsSync(path));
  if (missing.length > 0) {
    throw new Error(
      `control-plane binaries are missing (${missing.join(', ')}): run \`make cluster-build\` ` +
        '(builds etcd, Kubernetes and kwok from Go modules into the cache, about 10 min cold)',
    );
  }
}
