// A real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) on
// loopback, started and stopped by e2e/cluster/control-plane-{up,down}.sh.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { assertControlPlaneBuilt, clusterBinary, clusterDir } from './paths.js';
import { run } from './process.js';

export interface ControlPlane {
  /** Admin kubeconfig (system:masters), certificates embedded. */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  stateDir: string;
  /** True if the state dir already held a running control plane (then stop() leaves it running). */
  reused: boolean;
  /** Stops every process and removes the state dir (KEEP_STATE=1 keeps it). Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartControlPlaneOptions {
  /** Defaults to a new directory under os.tmpdir(). */
  stateDir?: string;
  /** Each progress line of the scripts; defaults to writing them to stderr. */
  onProgress?: (line: string) => void;
  /**
   * Stop the control plane when this process exits even without stop() (a watchdog started by
   * the up script; covers a killed test run). Default true.
   */
  stopWithThisProcess?: boolean;
}

const writeToStderr = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

export async function startControlPlane(opts: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  assertControlPlaneBuilt();
  const stateDir = resolve(opts.stateDir ?? (await mkdtemp(join(tmpdir(), 'sandbank-cp-'))));
  const onProgress = opts.onProgress ?? writeToStderr;
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (opts.stopWithThisProcess ?? true) env['SANDBANK_CP_WATCH_PID'] = String(process.pid);
  else delete env['SANDBANK_CP_WATCH_PID'];

  const { stdout } = await run('bash', [join(clusterDir, 'control-plane-up.sh'), stateDir], {
    env,
    onStderrLine: onProgress,
  });
  const reused = stdout.trim() === 'already-up';
  const ports = parseEnvFile(await readFile(join(stateDir, 'ports.env'), 'utf8'));
  const server = `https://127.0.0.1:${ports.get('APISERVER_PORT') ?? '?'}`;
  const kubeconfigPath = join(stateDir, 'kubeconfig');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    if (reused) return Promise.resolve();
    stopping ??= run('bash', [join(clusterDir, 'control-plane-down.sh'), stateDir], {
      onStderrLine: onProgress,
    }).then(() => undefined);
    return stopping;
  };
  try {
    await ensureGvisorRuntimeClass(kubeconfigPath, stateDir, onProgress);
  } catch (error) {
    await stop();
    throw error;
  }
  return { kubeconfigPath, server, stateDir, reused, stop };
}

/**
 * The `gvisor` RuntimeClass, as a cluster with GKE Sandbox or the local cluster has it. The
 * controller fills it into every sandbox pod that names no class (the sandbox profile's
 * default), and the API server's RuntimeClass admission refuses a pod naming a class that does
 * not exist. kwok runs no containers, so the handler only has to be named.
 */
async function ensureGvisorRuntimeClass(
  kubeconfigPath: string,
  stateDir: string,
  onProgress: (line: string) => void,
): Promise<void> {
  const manifest = join(stateDir, 'runtimeclass-gvisor.yaml');
  await writeFile(
    manifest,
    'apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: gvisor\nhandler: runsc\n',
  );
  await run(
    clusterBinary('kubectl'),
    [
      `--kubeconfig=${kubeconfigPath}`,
      'apply',
      '--server-side',
      '--field-manager=sandbank-e2e',
      '-f',
      manifest,
    ],
    { onStderrLine: onProgress },
  );
}

function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return env;
}
