/**
 * A keyed work queue with client-go's semantics (util/workqueue: Type + delaying + rate limiting
 * in one object). A key is a string, normally `namespace/name`.
 *
 * Guarantees:
 * - a key waits in the queue at most once (adds are deduplicated);
 * - a key is never handed to two workers at once: `get()` moves it to `processing`, and an add
 *   that arrives meanwhile marks it dirty, so it is queued again when `done(key)` is called —
 *   a change during a reconcile is never lost and never processed concurrently;
 * - `addAfter` keeps only the earliest pending due time per key; all delays share one timer;
 * - `addRateLimited` waits the key's backoff (see rate-limiter.ts) until `forget(key)`.
 *
 * Caveat (differs from client-go on purpose): after `shutDown()`, `get()` resolves `undefined`
 * at once instead of handing out the keys still queued. Shutdown means SIGTERM or a lost lease,
 * and a backlog worked off after losing the lease would be writes without leadership; the next
 * leader (or this process after restart) lists everything and enqueues it again anyway.
 */
import type { Clock, TimerHandle } from './clock.js';
import { realClock } from './clock.js';
import { DelayHeap } from './delay-heap.js';
import type { RateLimiter } from './rate-limiter.js';
import { exponentialBackoff } from './rate-limiter.js';

export interface WorkQueueOptions {
  readonly clock?: Clock;
  /** Defaults to per-key exponential backoff, 5 ms doubling to 60 s. */
  readonly rateLimiter?: RateLimiter<string>;
  /** Called with `len()` whenever it changes (feeds the depth gauge). */
  readonly onDepth?: (depth: number) => void;
}

/** FIFO with O(1) push and shift (an array with a moving head, compacted as it drains). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly limiter: RateLimiter<string>;
  private readonly onDepth: ((depth: number) => void) | undefined;

  /** Keys ready to be handed out. Every key here is in `dirty` and not in `processing`. */
  private readonly queue = new Fifo<string>();
  /** Keys that need processing: those in `queue` plus those re-added while processing. */
  private readonly dirty = new Set<string>();
  /** Keys handed out by `get()` and not yet `done()`. May also be in `dirty`. */
  private readonly processing = new Set<string>();
  /** Workers blocked in `get()`, oldest first. */
  private readonly waiters = new Fifo<(key: string | undefined) => void>();

  /** Earliest pending due time per delayed key; heap entries that disagree are stale. */
  private readonly delayed = new Map<string, number>();
  private readonly heap = new DelayHeap<string>();
  private timer?: TimerHandle;
  private timerAt = Infinity;

  private shuttingDown = false;
  private drained: (() => void)[] = [];

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.limiter = opts.rateLimiter ?? exponentialBackoff<string>();
    this.onDepth = opts.onDepth;
  }

  /** Marks `key` as needing processing. No-op if it already does, or after shutdown. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // queued again by done()
    this.queue.push(key);
    this.dispatch();
    this.reportDepth();
  }

  /** Adds `key` after `ms` (at once when `ms <= 0`). An earlier pending due time wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending !== undefined && pending <= at) return;
    this.delayed.set(key, at);
    this.heap.push(at, key);
    if (at < this.timerAt) this.schedule(at);
  }

  /** Adds `key` after its backoff: each call without a `forget` in between waits longer. */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.addAfter(key, this.limiter.when(key));
  }

  /** Resets `key`'s backoff. Call after a pass that should not count as a failure. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  /** Failures counted for `key` since its last `forget`. */
  numRequeues(key: string): number {
    return this.limiter.retries(key);
  }

  /**
   * The next key to process, waiting until one is ready; `undefined` once the queue is shut
   * down. The caller owns the key until it calls `done(key)` — always, even when processing
   * threw.
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.take();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends processing of `key`; if it was added meanwhile it is queued again now. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key) && !this.shuttingDown) {
      this.queue.push(key);
      this.dispatch();
      this.reportDepth();
    }
    if (this.shuttingDown && this.processing.size === 0) this.resolveDrained();
  }

  /** Keys ready to be handed out (not those delayed or being processed). */
  len(): number {
    return this.queue.length;
  }

  /** Keys being processed right now. */
  inFlight(): number {
    return this.processing.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops handing out keys: blocked and later `get()` calls resolve `undefined`, adds are
   * ignored, queued and delayed keys are dropped. Keys being processed may still call `done`.
   */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.heap.clear();
    this.delayed.clear();
    this.queue.clear();
    this.dirty.clear();
    for (let w = this.waiters.shift(); w !== undefined; w = this.waiters.shift()) w(undefined);
    this.reportDepth();
    if (this.processing.size === 0) this.resolveDrained();
  }

  /** `shutDown()`, then resolves once every key handed out has been `done`. */
  shutDownWithDrain(): Promise<void> {
    const drained = new Promise<void>((resolve) => {
      if (this.shuttingDown && this.processing.size === 0) resolve();
      else this.drained.push(resolve);
    });
    this.shutDown();
    return drained;
  }

  /** Moves the next ready key into `processing`; undefined when none is ready. */
  private take(): string | undefined {
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    this.dirty.delete(key);
    this.processing.add(key);
    this.reportDepth();
    return key;
  }

  /** Hands ready keys to blocked workers, oldest worker first. */
  private dispatch(): void {
    while (this.waiters.length > 0 && this.queue.length > 0) {
      const waiter = this.waiters.shift();
      const key = this.take();
      if (waiter === undefined || key === undefined) return;
      waiter(key);
    }
  }

  private schedule(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.fireDue();
      },
      Math.max(0, at - this.clock.now()),
    );
  }

  private fireDue(): void {
    const now = this.clock.now();
    for (let top = this.heap.peek(); top !== undefined && top.at <= now; top = this.heap.peek()) {
      this.heap.pop();
      // Skip stale entries: the key was rescheduled earlier and has already fired.
      if (this.delayed.get(top.key) !== top.at) continue;
      this.delayed.delete(top.key);
      this.add(top.key);
    }
    // Drop stale entries at the top so the timer is set for a real due time.
    for (let top = this.heap.peek(); top !== undefined; top = this.heap.peek()) {
      if (this.delayed.get(top.key) === top.at) {
        this.schedule(top.at);
        break;
      }
      this.heap.pop();
    }
  }

  private reportDepth(): void {
    this.onDepth?.(this.queue.length);
  }

  private resolveDrained(): void {
    const drained = this.drained;
    this.drained = [];
    for (const resolve of drained) resolve();
  }
}
