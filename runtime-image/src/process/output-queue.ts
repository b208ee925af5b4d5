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
      const item = this.items.shift();
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

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
