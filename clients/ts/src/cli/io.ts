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
