/**
 * Reading a whole HTTP body into memory, bounded in size and, when asked, in silence: the one
 * reader behind the router's buffered answers (http/request.ts) and the API server's (kube/api.ts).
 * The caller says what an overflow or a stall is, so each side keeps its own error classes.
 */
import type { Readable } from 'node:stream';

export interface BodyLimits {
  /** Largest body held. */
  readonly maxBytes: number;
  /**
   * Past `maxBytes`: 'cut' keeps the first `maxBytes` (an error body quoted in a message); a
   * function gives the error to reject with. Either way the body is destroyed, nothing more read.
   */
  readonly over: 'cut' | ((maxBytes: number) => Error);
  /**
   * Longest silence before the first chunk or between two: past it the body is destroyed with
   * `error(ms)`. Absent, only the caller's deadline bounds the wait.
   */
  readonly stall?: { readonly ms: number; readonly error: (ms: number) => Error };
  /** Aborted, the body is destroyed with its reason. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The bytes of `body` up to `limits.maxBytes`. Rejects with the overflow's error, the stall's, the
 * signal's reason, or whatever broke the stream: the caller maps them to its own.
 */
export async function readBody(body: Readable, limits: BodyLimits): Promise<Buffer> {
  const { maxBytes, over, stall, signal } = limits;
  const chunks: Buffer[] = [];
  let size = 0;
  let silence: NodeJS.Timeout | undefined;
  const arm = (): void => {
    if (!stall) return;
    clearTimeout(silence);
    silence = setTimeout(() => body.destroy(stall.error(stall.ms)), stall.ms);
  };
  const onAbort = (): void => {
    body.destroy(signal?.reason as Error);
  };
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  try {
    arm();
    for await (const chunk of body as AsyncIterable<Buffer>) {
      arm();
      if (size + chunk.byteLength > maxBytes) {
        body.destroy();
        if (over !== 'cut') throw over(maxBytes);
        chunks.push(chunk.subarray(0, maxBytes - size));
        size = maxBytes;
        break;
      }
      chunks.push(chunk);
      size += chunk.byteLength;
    }
  } finally {
    clearTimeout(silence);
    signal?.removeEventListener('abort', onAbort);
  }
  return Buffer.concat(chunks, size);
}
