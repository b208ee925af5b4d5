/**
 * Merges a process's stdout and stderr into one async iterable of chunks, in arrival order,
 * with backpressure: once `highWaterBytes` wait unread, both pipes are paused (the kernel's
 * pipe buffer then fills and the process blocks in write(2)); they resume when the reader has
 * taken the queue below half of that. Memory per process is bounded by the high-water mark plus
 * one chunk per stream, however slow the reader.
 */
import type { Readable } from 'node:stream';

export type StreamName = 'stdout' | 'stderr';

export interface OutputChunk {
  readonly stream: StreamName;
  readonly data: Buffer;
}

/**
 * 256 KiB: enough to keep a fast reader from ever seeing a paused pipe (a gRPC frame is at most
 * one 64 KiB pipe read), small enough that a hundred stalled processes hold 25 MiB at most.
 */
export const DEFAULT_HIGH_WATER_BYTES = 256 * 1024;

/**
 * Largest chunk the iterator hands out. Small pipe reads waiting for the reader are merged up to
 * this size (same stream only, order kept), so a chatty writer costs a few frames instead of one
 * per write(2). 64 KiB, not more: measured with grpc-js on loopback, 64 KiB messages stream
 * faster than 1 MiB ones (559 vs 348 MB/s server and client in one process), and every merge is
 * a copy.
 */
export const MAX_CHUNK_BYTES = 64 * 1024;

export class OutputQueue implements AsyncIterable<OutputChunk> {
  private readonly items: OutputChunk[] = [];
  private bytes = 0;
  private open: number;
  private paused = false;
  private wake: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly sources: readonly Readable[],
    private readonly highWaterBytes = DEFAULT_HIGH_WATER_BYTES,
  ) {
    this.open = sources.length;
  }

  /** Adds a chunk (already masked and capped). Empty chunks are dropped. */
  push(stream: StreamName, data: Buffer): void {
    if (data.length === 0) return;
    this.items.push({ stream, data });
    this.bytes += data.length;
    if (!this.paused && this.bytes >= this.highWaterBytes) {
      this.paused = true;
      for (const s of this.sources) s.pause();
    }
    this.notify();
  }

  /** One source has ended; the iteration ends once all have and the queue is empty. */
  end(): void {
    this.open--;
    this.notify();
  }

  /** Ends the iteration with `error` after the chunks already queued. */
  fail(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<OutputChunk> {
    for (;;) {
      const item = this.takeMerged();
      if (item) {
        this.bytes -= item.data.length;
        if (this.paused && this.bytes <= this.highWaterBytes / 2) {
          this.paused = false;
          for (const s of this.sources) s.resume();
        }
        yield item;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.open <= 0) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The next chunk, merged with the ones right behind it from the same stream. */
  private takeMerged(): OutputChunk | undefined {
    const first = this.items.shift();
    if (!first) return undefined;
    let next = this.items[0];
    if (!next || next.stream !== first.stream || first.data.length + next.data.length > MAX_CHUNK_BYTES)
      return first;
    const parts = [first.data];
    let size = first.data.length;
    while (next && next.stream === first.stream && size + next.data.length <= MAX_CHUNK_BYTES) {
      parts.push(next.data);
      size += next.data.length;
      this.items.shift();
      next = this.items[0];
    }
    return { stream: first.stream, data: Buffer.concat(parts, size) };
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
