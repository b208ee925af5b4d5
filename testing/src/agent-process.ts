/**
 * The agent as the image runs it: the esbuild bundle (runtime-image/scripts/bundle.mjs) started
 * as its own process. Used where a test needs a separate process (peak memory, SIGTERM, gVisor).
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '@sandbank/e2e';

const AGENT_DIR = join(repoRoot, 'runtime-image');

/** The Node flags the image's ENTRYPOINT runs the agent with (keep in step with the Dockerfile). */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** Bundles the agent into a fresh temporary directory (removed when this process exits). */
export function buildBundle(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sandbank-agent-bundle-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755); // readable by the sandbox's user 1000 when bind-mounted into gVisor
  const out = join(dir, 'agent.mjs');
  execFileSync(process.execPath, [join(AGENT_DIR, 'scripts', 'bundle.mjs'), out], { stdio: 'inherit' });
  return out;
}

/** Removes a bundle made by `buildBundle` (tests call it in afterAll: jest does not run exit hooks). */
export function removeBundle(bundle: string): void {
  rmSync(dirname(bundle), { recursive: true, force: true });
}

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly grpcPort: number;
  readonly restPort: number;
  /** Log lines (parsed JSON) seen so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
}

/**
 * Starts the bundled agent with `env` on free loopback ports and waits until it listens (its
 * info-level "agent listening" line: keep SANDBANK_AGENT_LOG_LEVEL at info or lower).
 *
 * An agent refuses to start without a credential; the callers here talk to it directly (no
 * router derives a pod token for them), so unless `env` gives it a digest
 * (SANDBANK_AGENT_TOKEN_SHA256) it runs with the explicit local-development opt-out.
 */
export async function startAgentProcess(
  bundle: string,
  env: Record<string, string>,
  nodeArgs: readonly string[] = AGENT_NODE_FLAGS,
): Promise<AgentProcess> {
  const child = spawn(process.execPath, [...nodeArgs, bundle], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      SANDBANK_AGENT_HOST: '127.0.0.1',
      SANDBANK_AGENT_GRPC_PORT: '0',
      SANDBANK_AGENT_REST_PORT: '0',
      ...credentialOrOptOut(env),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const { pid, stdout } = child;
  if (pid === undefined || !stdout) throw new Error('could not start the agent');
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logs: Record<string, unknown>[] = [];
  const ready = new Promise<{ grpcPort: number; restPort: number }>((resolve, reject) => {
    createInterface({ input: stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return; // not a log line (e.g. V8 tracing)
      }
      logs.push(entry);
      if (entry['msg'] === 'agent listening')
        resolve(entry as unknown as { grpcPort: number; restPort: number });
    });
    child.once('exit', (code) => reject(new Error(`agent exited with ${String(code)} before listening`)));
    setTimeout(() => reject(new Error('agent did not log "agent listening" within 20 s')), 20_000).unref();
  });
  const { grpcPort, restPort } = await ready;
  return { child, pid, grpcPort, restPort, logs, exited };
}

/** `env`, plus SANDBANK_AGENT_INSECURE_NO_AUTH=true when it sets no token digest. */
export function credentialOrOptOut(env: Readonly<Record<string, string>>): Record<string, string> {
  return env['SANDBANK_AGENT_TOKEN_SHA256']
    ? { ...env }
    : { SANDBANK_AGENT_INSECURE_NO_AUTH: 'true', ...env };
}
