/**
 * Child processes for the router benchmarks, so each side's memory is measured alone: the real
 * agent (runtime-image/src/main.ts) and a router (`--router` here) built with buildRouterApp over
 * a fixed lookup. Run through `node --conditions=source --import tsx`.
 *
 * As in a cluster, the agent checks its pod's credential (the digest of a token derived from the
 * tests' agent key and a fresh nonce) and the router derives that token for every call, so the
 * measured path includes both.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServerCredentials } from '@grpc/grpc-js';
import { agentToken, agentTokenDigest, credentialAnnotation } from '@sandbank/kube';
import { buildRouterApp, createLogger, noAuthenticator } from '../src/index.js';
import { TEST_AGENT_KEY } from '../test/helpers/agent-key.js';
import { staticLookup } from '../test/helpers/static-lookup.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODE_ARGS = ['--conditions=source', '--import', 'tsx'];

export interface Child<Info> {
  readonly process: ChildProcess;
  readonly info: Info;
  stop(): Promise<void>;
}

export interface AgentPorts {
  readonly grpcPort: number;
  readonly restPort: number;
  /** Its pod's credential annotation (sandbox `default/sb`). */
  readonly annotation: string;
  /** The token it accepts, for calls straight to it: `authorization: Bearer <token>`. */
  readonly token: string;
}

export interface RouterPorts {
  readonly httpPort: number;
  readonly grpcPort: number;
}

/** The first line of the child's stdout that `pattern` matches, with its two numeric groups. */
function portsLine(child: ChildProcess, pattern: RegExp): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const m = pattern.exec(line);
        if (m) resolve([Number(m[1]), Number(m[2])]);
      }
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${String(code)} before it was ready`)));
  });
}

function stopper(child: ChildProcess, cleanup: () => void): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    cleanup();
  };
}

/** The real agent on `ip`, any free ports; resolves once it logged that it listens. */
export async function spawnAgent(ip: string, env: Record<string, string> = {}): Promise<Child<AgentPorts>> {
  const workspace = mkdtempSync(join(tmpdir(), 'sandbank-bench-agent-'));
  const annotation = credentialAnnotation();
  const token = agentToken(TEST_AGENT_KEY, 'default', annotation);
  const child = spawn(process.execPath, [...NODE_ARGS, join(repo, 'runtime-image', 'src', 'main.ts')], {
    cwd: repo,
    env: {
      ...process.env,
      SANDBANK_AGENT_HOST: ip,
      SANDBANK_AGENT_GRPC_PORT: '0',
      SANDBANK_AGENT_REST_PORT: '0',
      SANDBANK_AGENT_WORKSPACE: workspace,
      SANDBANK_AGENT_MAX_PROCESSES: '4000',
      SANDBANK_AGENT_TOKEN_SHA256: agentTokenDigest(token),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [grpcPort, restPort] = await portsLine(child, /"grpcPort":(\d+),"restPort":(\d+)/);
  return {
    process: child,
    info: { grpcPort, restPort, annotation, token },
    stop: stopper(child, () => rmSync(workspace, { recursive: true, force: true })),
  };
}

export interface RouterOptions {
  /**
   * The sandbox's pod carries `sandbank.dev/expose-any-port: "true"`: the port route reaches any
   * port on `ip` but the agent's (a server the benchmark starts in the sandbox binds a free one).
   */
  readonly anyPort?: boolean;
}

/**
 * A router process in front of one sandbox `sb` (also its claim's name) at `ip`; answers
 * `{type:'mem'}` IPC messages.
 */
export async function spawnRouter(
  ip: string,
  agent: AgentPorts,
  options: RouterOptions = {},
): Promise<Child<RouterPorts>> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', ...NODE_ARGS, fileURLToPath(import.meta.url), '--router'],
    {
      cwd: repo,
      env: {
        ...process.env,
        BENCH_IP: ip,
        BENCH_GRPC: String(agent.grpcPort),
        BENCH_REST: String(agent.restPort),
        BENCH_ANNOTATION: agent.annotation,
        BENCH_ANY_PORT: String(options.anyPort ?? false),
      },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    },
  );
  const [httpPort, grpcPort] = await portsLine(child, /^ROUTER (\d+) (\d+)$/);
  return { process: child, info: { httpPort, grpcPort }, stop: stopper(child, () => undefined) };
}

/** Heap + external + array buffers of the child after GC, and its RSS, in bytes. */
export function childMemory(child: Child<unknown>): Promise<{ heap: number; rss: number }> {
  return new Promise((resolve) => {
    child.process.once('message', (m: { heap: number; rss: number }) => resolve(m));
    child.process.send({ type: 'mem' });
  });
}

async function routerMain(): Promise<void> {
  const ip = process.env['BENCH_IP'] ?? '127.0.0.1';
  const app = buildRouterApp({
    auth: noAuthenticator(),
    lookup: staticLookup([
      {
        namespace: 'default',
        name: 'sb',
        ip,
        annotation: process.env['BENCH_ANNOTATION'],
        anyPort: process.env['BENCH_ANY_PORT'] === 'true',
      },
    ]),
    agentKey: TEST_AGENT_KEY,
    agentPorts: {
      grpcPort: Number(process.env['BENCH_GRPC']),
      legacyPort: Number(process.env['BENCH_REST']),
    },
    log: createLogger('silent'),
    limits: { maxStreamsPerCaller: 100_000 },
  });
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  const grpcPort = await new Promise<number>((resolve, reject) =>
    app.grpcServer.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  process.on('message', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    process.send?.({ heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss });
  });
  process.on('SIGTERM', () => {
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`router close: ${String(error)}\n`);
        process.exit(1);
      },
    );
  });
  process.stdout.write(`ROUTER ${(app.server.address() as AddressInfo).port} ${grpcPort}\n`);
}

if (process.argv.includes('--router')) {
  routerMain().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
