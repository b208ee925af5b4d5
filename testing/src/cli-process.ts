/**
 * The `sandbank` CLI as a process, as a user runs it: src/cli/main.ts bundled once with esbuild into
 * plain JavaScript (npm packages stay external and load from node_modules), then run with node for
 * each call, so a test sees its real exit code, stdout and stderr, and no TypeScript loader slows
 * each start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@sandbank/e2e';

export function bundleCli(): string {
  const out = join(repoRoot, 'node_modules', '.cache', 'sandbank-cli', `sandbank-${process.pid}.mjs`);
  const result = spawnSync(
    join(repoRoot, 'node_modules', '.bin', 'esbuild'),
    [
      join(repoRoot, 'clients', 'ts', 'src', 'cli', 'main.ts'),
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--packages=external',
      `--outfile=${out}`,
      '--log-level=warning',
    ],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`esbuild failed: ${result.stderr || String(result.error)}`);
  return out;
}

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: Readonly<Record<string, string>>;
  /** Bytes on stdin, then EOF (default: EOF at once). */
  readonly input?: Uint8Array | string;
  /** Called with the child once it runs (to signal it). */
  readonly started?: (child: ChildProcess) => void;
}

/** Runs `node <bundle> ...args`; resolves when it exited, with everything it printed. */
export function runCliProcess(
  bundle: string,
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(stdout), stderr }));
    child.stdin.end(options.input ?? '');
    options.started?.(child);
  });
}
