/**
 * The controller as a separate OS process (`controller/src/main.ts` through tsx, as a developer
 * runs it), for tests and benchmarks that kill it (SIGKILL), restart it, or measure its memory.
 * Every process started here is tracked and killed when the parent exits, so a failed test run
 * leaves none behind; tests still call `stopAllControllers()` in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '@sandbank/e2e';
import { esbuildBundle } from './esbuild-bundle.js';
import { memoryOf } from './measure.js';

const MAIN = join(repoRoot, 'controller', 'src', 'main.ts');
/** The workspace packages the controller imports: bundled from their sources (they have no dist/ here). */
const CONTROLLER_WORKSPACES = ['api', 'kube'] as const;

/**
 * Bundles main.ts and the sources of the workspace packages it imports into one plain JavaScript
 * file with esbuild (npm packages stay external and load from node_modules), so a benchmark runs
 * what `node dist/main.js` runs:
 * no TypeScript loader in the process, whose memory and start-up would count against the
 * controller. Returns the file's path (under node_modules/.cache, which git ignores).
 */
export function bundleController(): string {
  return esbuildBundle({
    entry: MAIN,
    outfile: join(repoRoot, 'node_modules', '.cache', 'sandbank-bench', 'controller.mjs'),
    target: 'node24',
    workspaces: CONTROLLER_WORKSPACES,
  });
}

export interface ControllerProcessOptions {
  readonly kubeconfigPath: string;
  readonly namespace: string;
  /** Extra environment (LEADER_ELECT, LEADER_ELECTION_*, CONTROLLER_WORKERS, …). */
  readonly env?: Readonly<Record<string, string>>;
  /** Default `warn`. */
  readonly logLevel?: string;
  /** Run this JavaScript file with plain node instead of main.ts through tsx. */
  readonly script?: string;
}

export interface ControllerProcess {
  readonly pid: number;
  readonly port: number;
  /** performance.now() just before spawn. */
  readonly startedAt: number;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** The process's stdout + stderr so far (last 64 KiB), for failure messages. */
  output(): string;
  /** SIGKILL (default) or another signal; resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** GET a path of its HTTP server (`/readyz`, `/metrics`); undefined when it does not answer. */
  http(path: string): Promise<{ status: number; body: string } | undefined>;
  /** Resident set size in bytes, from /proc. */
  rssBytes(): number;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A loopback port free right now (for a child process to listen on). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startController(opts: ControllerProcessOptions): Promise<ControllerProcess> {
  const port = await freePort();
  const args = opts.script ? [opts.script] : ['--import', 'tsx', '--conditions=source', MAIN];
  const startedAt = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      KUBECONFIG: opts.kubeconfigPath,
      WATCH_NAMESPACE: opts.namespace,
      HTTP_PORT: String(port),
      HTTP_BIND_ADDRESS: '127.0.0.1',
      LOG_LEVEL: opts.logLevel ?? 'warn',
      LEADER_ELECT: 'false',
      // The agent key's Secret in the test's own namespace (a test API server has no sandbank-system).
      AGENT_KEY_SECRET: `${opts.namespace.split(',')[0] ?? opts.namespace}/sandbank-agent-key`,
      ...opts.env,
    },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn the controller process');
  live.add(child);
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-65_536);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  let gone = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      gone = true;
      resolve(code ?? signal ?? 'unknown');
    });
  });

  return {
    pid,
    port,
    startedAt,
    exited,
    output: () => output,
    async kill(signal = 'SIGKILL') {
      if (!gone) child.kill(signal);
      await exited;
    },
    async http(path) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
        return { status: res.status, body: await res.text() };
      } catch {
        return undefined;
      }
    },
    rssBytes: () => memoryOf(pid).current,
  };
}

/** Waits (bounded) until `/readyz` answers 200: every informer cache synced. */
export async function waitControllerReady(proc: ControllerProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | string | undefined;
  proc.exited.then(
    (code) => (exited = code),
    (error: unknown) => (exited = `unknown: ${String(error)}`),
  );
  for (;;) {
    if (exited !== undefined) {
      throw new Error(`controller ${proc.pid} exited (${exited}) before ready:\n${proc.output()}`);
    }
    if ((await proc.http('/readyz'))?.status === 200) return;
    if (Date.now() > deadline) {
      throw new Error(`controller ${proc.pid} not ready after ${timeoutMs} ms:\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The value of one Prometheus sample (`name{labels}` exactly as exposed), summed over matches. */
export function metricValue(metricsText: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const match = /^([^{\s]+)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = new Map(
      (match[2] ?? '')
        .split(',')
        .filter((p) => p.includes('='))
        .map((p) => {
          const eq = p.indexOf('=');
          return [p.slice(0, eq), p.slice(eq + 1).replace(/^"|"$/g, '')] as const;
        }),
    );
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(match[3]);
  }
  return sum;
}
