// Runs a command, handing each stderr line to a callback as it arrives (the cluster scripts
// report progress on stderr) and keeping stdout and the last stderr lines for the result.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface RunResult {
  stdout: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  onStderrLine?: (line: string) => void;
}

const keptLines = 40;

export function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    const tail: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    createInterface({ input: child.stderr }).on('line', (line) => {
      tail.push(line);
      if (tail.length > keptLines) tail.shift();
      opts.onStderrLine?.(line);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) {
        resolvePromise({ stdout });
        return;
      }
      const how = signal ? `was killed by ${signal}` : `exited with ${String(code)}`;
      reject(new Error(`${command} ${args.join(' ')} ${how}:\n${tail.join('\n')}`));
    });
  });
}
