/**
 * The `sandbank` CLI as a process, as a user runs it: src/cli/main.ts bundled once with esbuild into
 * plain JavaScript (npm packages stay external and load from node_modules), then run with node for
 * each call, so a test sees its real exit code, stdout and stderr, and no TypeScript loader slows
 * each start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@sandbank/e2e';
import { esbuildBundle } from './esbuild-bundle.js';

export function bundleCli(): string {
  return esbuildBundle({
    entry: join(repoRoot, 'clients', 'ts', 'src', 'cli', 'main.ts'),
    outfile: join(repoRoot, 'node_modules', '.cache', 'sandbank-cli', `sandbank-${process.pid}.mjs`),
    target: 'node20',
  });
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
