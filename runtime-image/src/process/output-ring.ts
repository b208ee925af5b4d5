/**
 * A background process's output: a bounded ring of bytes addressed by absolute offsets, each
 * byte tagged with the stream it came from.
 *
 * One ring for stdout and stderr, not two: a reader keeps one offset to resume from, the streams
 * stay in the order they were read, and a process on a terminal (one byte stream) is the same
 * case with a single tag. Tags are kept as runs (the offset where the stream changes), so a
 * process that writes only stdout costs one run whatever it writes.
 *
 * Offset 0 is the first byte ever written; `end` is the total written. The ring keeps the last
 * `capacity` bytes at most: writing past that drops the oldest bytes for every reader, so a slow
 * or absent reader never holds the writer. Readers pull copies of at most one chunk at a time and
 * keep nothing here but, while they wait, one waker each (gone when the wait ends).
 *
 * Memory grows on demand (a process that prints one line does not cost a full ring) through an
 * allocator that may grant less than asked: the ring then drops old bytes sooner. Byte `o` lives
 * at `o % size`, so growing or shrinking is one copy of the retained bytes.
 */
import type { StreamName } from './output-queue.js';

/** Grants memory to rings out of a shared budget. */
export interface RingAllocator {
  /** Asks for `bytes` more; returns how many were granted (0 to `bytes`). */
  reserve(bytes: number): number;
  /** Gives back `bytes` granted earlier. */
  release(bytes: number): void;
}

/** An allocator without a budget (tests, and rings whose owner bounds them otherwise). */
export const UNBOUNDED: RingAllocator = { reserve: (bytes) => bytes, release: () => undefined };

/** A chunk read from the ring: a copy, never spanning two streams. */
export interface RingChunk {
  readonly offset: number;
  readonly stream: StreamName;
  readonly data: Buffer;
}

/** Largest chunk `read` hands out by default (a gRPC frame of comfortable size). */
export const DEFAULT_READ_BYTES = 64 * 1024;

/** First allocation of a ring that grows: small enough for a hundred idle processes. */
export const INITIAL_RING_BYTES = 64 * 1024;

/**
 * Bytes of capacity per tag run the ring may hold. A process alternating stdout and stderr a byte
 * at a time would otherwise need one run per byte; past this many runs the oldest bytes are
 * dropped as if the ring were full (at 8 MiB: 32768 runs, under 1 MiB of bookkeeping).
 */
const BYTES_PER_RUN = 256;

export class OutputRing {
  private buffer: Buffer;
  private firstOffset = 0;
  private endOffset = 0;
  /** Runs of one stream: run i covers [runStarts[i], runStarts[i+1]) (the last one up to end). */
  private runStarts: number[] = [];
  private runStreams: StreamName[] = [];
  /** Index of the oldest live run in the arrays above (dropped ones are compacted away lazily). */
  private runHead = 0;
  private readonly maxRuns: number;
  private isClosed = false;
  private isReleased = false;
  /** Readers waiting for the next change; each removes itself when its wait ends otherwise. */
  private readonly wakers = new Set<() => void>();

  /**
   * @param capacity most bytes ever retained.
   * @param allocator grants memory; `initialBytes` is reserved from it by the caller already.
   * @param initialBytes size of the first allocation (0 to `capacity`).
   */
  constructor(
    readonly capacity: number,
    private readonly allocator: RingAllocator = UNBOUNDED,
    initialBytes: number = Math.min(capacity, INITIAL_RING_BYTES),
  ) {
    if (!Number.isSafeInteger(capacity) || capacity <= 0) throw new RangeError('capacity must be positive');
    if (initialBytes < 0 || initialBytes > capacity) throw new RangeError('initialBytes out of range');
    this.buffer = Buffer.alloc(initialBytes);
    this.maxRuns = Math.max(16, Math.ceil(capacity / BYTES_PER_RUN));
  }

  /** Offset of the first byte still retained. */
  get first(): number {
    return this.firstOffset;
  }

  /** Offset one past the last byte written: the total bytes written. */
  get end(): number {
    return this.endOffset;
  }

  /** Bytes allocated now (what the allocator granted). */
  get allocated(): number {
    return this.buffer.length;
  }

  /** True once the writer has finished: no byte will be added. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Appends `data` from `stream`, dropping the oldest bytes if the ring is full. */
  write(stream: StreamName, data: Uint8Array): void {
    if (this.isClosed) throw new Error('write after close');
    if (data.length === 0) return;
    const writeStart = this.endOffset;
    const newEnd = writeStart + data.length;
    this.growFor(Math.min(this.capacity, newEnd - this.firstOffset));
    const size = this.buffer.length;
    if (size === 0) {
      // Nothing can be retained (no memory granted): the bytes count, and are dropped.
      this.firstOffset = newEnd;
      this.endOffset = newEnd;
      this.pushRun(newEnd, stream);
      this.notify();
      return;
    }
    const keepFrom = Math.max(this.firstOffset, newEnd - size);
    const part = keepFrom > writeStart ? data.subarray(keepFrom - writeStart) : data;
    const partStart = Math.max(writeStart, keepFrom);
    const at = partStart % size;
    const head = Math.min(part.length, size - at);
    this.buffer.set(part.subarray(0, head), at);
    if (head < part.length) this.buffer.set(part.subarray(head), 0);
    this.endOffset = newEnd;
    this.pushRun(partStart, stream);
    this.dropBefore(keepFrom);
    this.notify();
  }

  /**
   * A copy of up to `maxBytes` retained bytes of one stream from `from`, or undefined when there
   * is nothing at or after `from` (before `limit`, if given). An offset older than the first
   * retained byte reads from the first retained byte: the chunk's offset says where it starts.
   */
  read(from: number, maxBytes = DEFAULT_READ_BYTES, limit = Infinity): RingChunk | undefined {
    const start = Math.max(from, this.firstOffset);
    const stop = Math.min(this.endOffset, limit);
    if (start >= stop || maxBytes <= 0 || this.isReleased) return undefined;
    const run = this.runAt(start);
    const runEnd = run + 1 < this.runStarts.length ? (this.runStarts[run + 1] as number) : this.endOffset;
    const length = Math.min(maxBytes, stop - start, runEnd - start);
    const size = this.buffer.length;
    const at = start % size;
    const head = Math.min(length, size - at);
    const data = Buffer.allocUnsafe(length);
    this.buffer.copy(data, 0, at, at + head);
    if (head < length) this.buffer.copy(data, head, 0, length - head);
    return { offset: start, stream: this.runStreams[run] as StreamName, data };
  }

  /**
   * Resolves at the next write, close or release, or when `signal` aborts. An aborted wait leaves
   * nothing behind, so readers that give up on a silent process cost nothing afterwards.
   */
  changed(signal?: AbortSignal): Promise<void> {
    if (this.isClosed || this.isReleased || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.wakers.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.wakers.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** True once `release` has freed the memory. */
  get released(): boolean {
    return this.isReleased;
  }

  /** Readers waiting in `changed` now. */
  get waiters(): number {
    return this.wakers.size;
  }

  /** The writer is done; readers see the end. The memory shrinks to what is retained. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.resize(this.endOffset - this.firstOffset);
    this.notify();
  }

  /**
   * Frees the memory (back to the allocator); reads find nothing from now on. A reader in the
   * middle of a chunk keeps only its copy.
   */
  release(): void {
    if (this.isReleased) return;
    this.isReleased = true;
    this.isClosed = true;
    this.allocator.release(this.buffer.length);
    this.buffer = Buffer.alloc(0);
    this.firstOffset = this.endOffset;
    this.runStarts = [];
    this.runStreams = [];
    this.runHead = 0;
    this.notify();
  }

  private notify(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /** Grows towards `needed` bytes (doubling), as far as the allocator grants. */
  private growFor(needed: number): void {
    const size = this.buffer.length;
    if (needed <= size || size >= this.capacity) return;
    const target = Math.min(this.capacity, Math.max(needed, size * 2, INITIAL_RING_BYTES));
    const granted = this.allocator.reserve(target - size);
    if (granted > 0) this.relayout(size + granted);
  }

  /** Shrinks or grows to exactly `size` bytes, returning or taking the difference. */
  private resize(size: number): void {
    const current = this.buffer.length;
    if (size === current) return;
    if (size < current) {
      this.relayout(size);
      this.allocator.release(current - size);
    } else {
      const granted = this.allocator.reserve(size - current);
      if (granted > 0) this.relayout(current + granted);
    }
  }

  /** Moves the retained bytes (the newest that fit) into a buffer of `size` bytes. */
  private relayout(size: number): void {
    const keepFrom = Math.max(this.firstOffset, this.endOffset - size);
    const next = Buffer.alloc(size);
    if (size > 0) {
      for (let offset = keepFrom; offset < this.endOffset;) {
        const at = offset % this.buffer.length;
        const length = Math.min(this.endOffset - offset, this.buffer.length - at);
        const to = offset % size;
        const fits = Math.min(length, size - to);
        this.buffer.copy(next, to, at, at + fits);
        offset += fits;
      }
    }
    this.buffer = next;
    this.dropBefore(keepFrom);
  }

  /** Starts a new run at `offset` unless the last run is of the same stream. */
  private pushRun(offset: number, stream: StreamName): void {
    const last = this.runStarts.length - 1;
    if (last >= this.runHead && this.runStreams[last] === stream) return;
    this.runStarts.push(offset);
    this.runStreams.push(stream);
    if (this.runStarts.length - this.runHead > this.maxRuns) {
      // Too many runs: drop the bytes of the oldest one, as if the ring had filled up.
      this.dropBefore(this.runStarts[this.runHead + 1] as number);
    }
  }

  /** Forgets bytes before `offset` and the runs that only covered them. */
  private dropBefore(offset: number): void {
    if (offset > this.firstOffset) this.firstOffset = Math.min(offset, this.endOffset);
    while (
      this.runHead + 1 < this.runStarts.length &&
      (this.runStarts[this.runHead + 1] as number) <= this.firstOffset
    ) {
      this.runHead++;
    }
    if (this.runHead > 1024 && this.runHead * 2 > this.runStarts.length) {
      this.runStarts = this.runStarts.slice(this.runHead);
      this.runStreams = this.runStreams.slice(this.runHead);
      this.runHead = 0;
    }
  }

  /** Index of the run holding `offset` (a retained offset): binary search over live runs. */
  private runAt(offset: number): number {
    let lo = this.runHead;
    let hi = this.runStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.runStarts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
