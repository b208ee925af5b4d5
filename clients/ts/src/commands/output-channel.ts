/**
 * One output stream of a spawned process (stdout or stderr) between the socket and its reader.
 * It holds what arrived and was not read yet; its owner pauses the socket while the channels hold
 * more than their high-water mark together, so a slow reader slows the sender instead of growing
 * memory. A stream nobody reads must not stall the other (or the exit): `collect()` turns it into a
 * capped buffer for the result, and a reader that stops early (`break`) turns it into a drain.
 */
export class OutputChannel implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  private mode: 'queue' | 'read' | 'collect' | 'drain' = 'queue';
  private collectedBytes = 0;
  private collectCap = 0;
  /** Bytes queued for the reader (not counting what `collect()` keeps). */
  queuedBytes = 0;
  /** `collect()` dropped bytes past its cap. */
  collectedTruncated = false;

  /** `onRead`: called whenever queued bytes went down (the owner may resume the socket). */
  constructor(
    readonly name: 'stdout' | 'stderr',
    private readonly onRead: () => void,
  ) {}

  /** @internal The session's bytes in; readers take them out. */
  push(chunk: Uint8Array): void {
    if (this.ended || chunk.byteLength === 0) return;
    if (this.mode === 'drain') return;
    if (this.mode === 'collect') return this.keep(chunk);
    this.chunks.push(chunk);
    this.queuedBytes += chunk.byteLength;
    this.wake();
  }

  /** No more output; `error` when the stream broke (the reader's loop throws it). */
  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    this.wake();
  }

  /**
   * Unless a reader took this stream: keep what is queued and what still comes, up to `cap` bytes,
   * for the result (past it, dropped and `collectedTruncated`); nothing waits on a reader any more.
   */
  collect(cap: number): void {
    if (this.mode !== 'queue') return;
    this.mode = 'collect';
    this.collectCap = cap;
    const queued = this.chunks.splice(0);
    this.queuedBytes = 0;
    for (const chunk of queued) this.keep(chunk);
    this.onRead();
  }

  /** What `collect()` kept, in order. */
  collected(): Uint8Array {
    return Buffer.concat(this.chunks, this.collectedBytes);
  }

  private keep(chunk: Uint8Array): void {
    const room = this.collectCap - this.collectedBytes;
    if (chunk.byteLength > room) this.collectedTruncated = true;
    const kept = chunk.byteLength > room ? chunk.subarray(0, room) : chunk;
    if (kept.byteLength === 0) return;
    this.chunks.push(kept);
    this.collectedBytes += kept.byteLength;
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** The stream's bytes in order, until it ends; iterate once. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.mode !== 'queue')
      throw new TypeError(`${this.name}: is read once, and not after wait() took it`);
    this.mode = 'read';
    try {
      for (;;) {
        const chunk = this.chunks.shift();
        if (chunk) {
          this.queuedBytes -= chunk.byteLength;
          this.onRead();
          yield chunk;
          continue;
        }
        if (this.ended) {
          if (this.failure) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => (this.waiter = resolve));
      }
    } finally {
      if (!this.ended) {
        // The reader stopped early: what still comes is dropped, so the other stream and the exit flow on.
        this.mode = 'drain';
        this.chunks.length = 0;
        this.queuedBytes = 0;
        this.onRead();
      }
    }
  }

  /** The same bytes as a web ReadableStream (read once, like the iterator). */
  readable(): ReadableStream<Uint8Array> {
    return iterableToReadable(this);
  }
}

/** A pull-based web ReadableStream over an async iterable: nothing is read before it is asked for. */
export function iterableToReadable(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  let iterator: AsyncIterator<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      iterator ??= source[Symbol.asyncIterator]();
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await iterator?.return?.();
    },
  });
}
