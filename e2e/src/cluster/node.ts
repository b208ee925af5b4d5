// The local one-node cluster (real kubelet + containerd + gVisor), started and stopped by
// e2e/cluster/cluster-{up,down}.sh, checked by verify-clean.sh. Needs root and the builds of
// build-control-plane.sh and build-node.sh. Images: buildImage() + loadImages(); Sandbank on top:
// startLocalCluster({ withSandbank: true }) (up.sh, as make up).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { clusterDir, sandbankCache } from './paths.js';
import { run } from './process.js';

export interface LocalCluster {
  /** Admin kubeconfig (system:masters), certificates embedded; server is https://<node IP>:<port>. */
  kubeconfigPath: string;
  /** https://<node IP>:<port>: the apiserver serves on this machine's own address. */
  server: string;
  /** This machine's address: the node's InternalIP. */
  nodeIp: string;
  stateDir: string;
  /** True if the state dir already held a running cluster (then stop() leaves it running). */
  reused: boolean;
  /** Stops everything and leaves the machine clean (cluster-down.sh). Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartLocalClusterOptions {
  /** Where PKI, configs, logs, containerd and kubelet state live. Defaults to defaultClusterStateDir(). */
  stateDir?: string;
  /** Each progress line of the scripts; defaults to writing them to stderr. */
  onProgress?: (line: string) => void;
  /**
   * Also install Sandbank as `make up` does (up.sh --no-quickstart): the three images built and
   * loaded, manifests/overlays/local deployed, the python-runtime warm pool (2) ready in `default`.
   */
  withSandbank?: boolean;
}

const writeToStderr = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** $SANDBANK_CLUSTER_STATE, else <cache>/cluster-state. */
export function defaultClusterStateDir(): string {
  return process.env['SANDBANK_CLUSTER_STATE'] ?? join(sandbankCache(), 'cluster-state');
}

export async function startLocalCluster(opts: StartLocalClusterOptions = {}): Promise<LocalCluster> {
  const stateDir = resolve(opts.stateDir ?? defaultClusterStateDir());
  const onProgress = opts.onProgress ?? writeToStderr;
  const script = opts.withSandbank
    ? [join(clusterDir, 'up.sh'), stateDir, '--no-quickstart']
    : [join(clusterDir, 'cluster-up.sh'), stateDir];
  const { stdout } = await run('bash', script, { onStderrLine: onProgress });
  const reused = stdout.trim() === 'already-up';
  const nodeIp = (await readFile(join(stateDir, 'baseline', 'node-ip'), 'utf8')).trim();
  const ports = await readFile(join(stateDir, 'control-plane', 'ports.env'), 'utf8');
  const port = /^APISERVER_PORT=(\d+)$/m.exec(ports)?.[1] ?? '?';

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    if (reused) return Promise.resolve();
    stopping ??= stopLocalCluster(stateDir, onProgress);
    return stopping;
  };
  return {
    kubeconfigPath: join(stateDir, 'kubeconfig'),
    server: `https://${nodeIp}:${port}`,
    nodeIp,
    stateDir,
    reused,
    stop,
  };
}

export async function stopLocalCluster(stateDir: string, onProgress = writeToStderr): Promise<void> {
  await run('bash', [join(clusterDir, 'cluster-down.sh'), resolve(stateDir)], { onStderrLine: onProgress });
}

/** Runs verify-clean.sh: resolves with its report when nothing is left, rejects listing the leftovers. */
export function verifyClean(stateDir: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile('bash', [join(clusterDir, 'verify-clean.sh'), resolve(stateDir)], (err, stdout, stderr) => {
      if (err) reject(new Error(`verify-clean.sh found leftovers:\n${stdout}${stderr}`));
      else resolvePromise(stdout);
    });
  });
}

/**
 * Builds an image from a Dockerfile with buildah (no Docker, no registry) on the debootstrap
 * base (build arg BASE_IMAGE); returns the OCI archive path (cached by content hash).
 */
export async function buildImage(
  name: string,
  dockerfile: string,
  context: string,
  onProgress = writeToStderr,
): Promise<string> {
  const { stdout } = await run('bash', [join(clusterDir, 'build-image.sh'), name, dockerfile, context], {
    onStderrLine: onProgress,
  });
  return stdout.trim().split('\n').pop() ?? '';
}

/** Imports OCI archives into the cluster's containerd (namespace k8s.io). */
export async function loadImages(
  stateDir: string,
  archives: readonly string[],
  onProgress = writeToStderr,
): Promise<void> {
  await run('bash', [join(clusterDir, 'load-images.sh'), resolve(stateDir), ...archives], {
    onStderrLine: onProgress,
  });
}
