/**
 * The process the CLI runs in, as the commands see it: its streams, environment and signals. One
 * seam, so the runner never reaches for `process` itself, and an embedder (`sandbank mcp`, a test)
 * can hand it other streams.
 */
import { once } from 'node:events';

export interface OutputStream extends NodeJS.WritableStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

export interface InputStream extends NodeJS.ReadableStream {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export type CliSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'SIGWINCH';

export interface CliIo {
  readonly stdin: InputStream;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Handles `signal` until the returned function is called (the default action is off meanwhile). */
  onSignal(signal: CliSignal, handler: () => void): () => void;
}

export function processIo(): CliIo {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    onSignal(signal, handler) {
      process.on(signal, handler);
      return () => process.off(signal, handler);
    },
  };
}

/** Writes `chunk`, waiting for `drain` when the stream's buffer is full: a slow reader slows the sender. */
export async function write(stream: OutputStream, chunk: Uint8Array | string): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

/** Resolves once everything written to `stream` so far has left the process (or the stream failed). */
export function flushed(stream: OutputStream): Promise<void> {
  // Writes complete in order: the callback of an empty write comes after every earlier one's.
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/** How long the exit waits for stdout and stderr to be taken by their readers. */
const EXIT_FLUSH_BOUND_MS = 30_000;

/**
 * Ends the process with `code` once stdout and stderr have handed over what they hold.
 * `process.exit` drops what a pipe to a reader slower than the writer still holds in the process
 * (a write returns before it leaves): `sandbank cp CLAIM:FILE -` printed files short by their tail.
 * A reader that never reads holds the exit up to EXIT_FLUSH_BOUND_MS.
 */
export async function exitAfterOutput(code: number): Promise<never> {
  // A reader that keeps the pipe open and never reads would hold the exit for good: past this
  // bound the process exits anyway (the output not taken by then is lost, as before the wait).
  setTimeout(() => process.exit(code), EXIT_FLUSH_BOUND_MS).unref();
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
