/**
 * Runs one process to completion and collects its output: the shared core of gRPC `Run` and the
 * legacy `POST /execute`. Output over `maxOutputBytes` per stream is dropped (and flagged), so
 * the memory held is bounded by twice the cap whatever the process writes.
 */
import type { ExitInfo } from './process.js';
import type { ProcessInput, ProcessRunner } from './runner.js';

export interface BufferedResult {
  readonly exit: ExitInfo;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/**
 * Starts `input` with `stdinBytes` as its whole stdin, waits for it to end and returns its
 * output. Aborting `signal` kills the process group; the result then reports the kill.
 */
export async function runBuffered(
  runner: ProcessRunner,
  input: Omit<ProcessInput, 'stdin' | 'maxOutputBytes'> & { readonly maxOutputBytes: number },
  stdinBytes: Uint8Array,
  signal?: AbortSignal,
): Promise<BufferedResult> {
  const proc = await runner.start({ ...input, stdin: stdinBytes.length > 0 });
  const onAbort = (): void => proc.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) proc.kill();
  try {
    if (stdinBytes.length > 0) {
      // writeStdin settles quietly when the pipe goes away; should it fail, kill the process
      // rather than leave it waiting for an EOF that never comes.
      proc.writeStdin(stdinBytes).then(
        () => proc.closeStdin(),
        () => proc.kill(),
      );
    }
    const out: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
    for await (const chunk of proc.output) out[chunk.stream].push(chunk.data);
    return { exit: await proc.exited, stdout: Buffer.concat(out.stdout), stderr: Buffer.concat(out.stderr) };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
