/**
 * Expectations (client-go's ControllerExpectations / UIDTrackingControllerExpectations): what an
 * owner (a warm pool, by its key) has asked the API server to create or delete and not yet seen
 * come back through its informer. While any are pending the owner's cache is known to lag its
 * own writes, so its reconciler must not count children from the cache and create or delete
 * again — that is how a pool over-creates under cache lag.
 *
 * Protocol for the reconciler:
 * - before creating n children: `expectCreations(key, n)`; for each create that FAILS, call
 *   `creationObserved(key)` (the object will never be seen);
 * - before deleting a child: `expectDeletion(key, uid)`; if the delete fails with anything but
 *   NotFound, call `deletionObserved(key, uid)`;
 * - informer handlers call `creationObserved(ownerKey)` on a child's add event and
 *   `deletionObserved(ownerKey, uid)` on its delete event;
 * - at the top of a pass: if `!satisfied(key)`, do not scale; return
 *   `requeueAfter(remainingMs(key))` so the pass happens at the latest when the record expires.
 * - when the owner itself is deleted: `forget(key)`.
 */
import type { Clock } from './clock.js';
import { realClock } from './clock.js';

/**
 * How long a record is trusted. A create or delete whose watch event never arrives (the object
 * was created and deleted while the watch was down, so the re-list never shows it; or a handler
 * bug) blocks the owner until then. Larger: a lost observation stalls the pool longer. Smaller:
 * if the informer lags longer than this (a watch reconnect plus a re-list of thousands of objects
 * takes seconds; normal lag is milliseconds) the owner acts on a stale count and over-creates —
 * which the next pass corrects by deleting the surplus. client-go uses 5 minutes; a pool stuck
 * for 5 minutes is worse for us than an occasional extra warm pod, so 60 s.
 */
export const DEFAULT_EXPECTATIONS_TIMEOUT_MS = 60_000;

export interface ExpectationsOptions {
  readonly timeoutMs?: number;
  readonly clock?: Pick<Clock, 'now'>;
}

interface Entry {
  creations: number;
  readonly deletions: Set<string>;
  /** When the record was last raised; expiry counts from here. */
  setAt: number;
}

export interface Pending {
  readonly creations: number;
  readonly deletions: readonly string[];
}

export class Expectations {
  private readonly records = new Map<string, Entry>();
  private readonly timeoutMs: number;
  private readonly clock: Pick<Clock, 'now'>;

  constructor(opts: ExpectationsOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_EXPECTATIONS_TIMEOUT_MS;
    this.clock = opts.clock ?? realClock;
  }

  /** Raises the pending creations of `key` by `n` (added to any still pending). */
  expectCreations(key: string, n: number): void {
    if (!(n > 0)) return;
    const r = this.record(key);
    r.creations += n;
    r.setAt = this.clock.now();
  }

  /** One expected creation of `key` was seen (or failed). Never goes below zero. */
  creationObserved(key: string): void {
    const r = this.records.get(key);
    if (r === undefined) return;
    r.creations = Math.max(0, r.creations - 1);
    this.dropIfEmpty(key, r);
  }

  /** `key` is deleting the child with `uid`. */
  expectDeletion(key: string, uid: string): void {
    const r = this.record(key);
    r.deletions.add(uid);
    r.setAt = this.clock.now();
  }

  /** The deletion of `uid` by `key` was seen (or failed). Unknown uids are ignored. */
  deletionObserved(key: string, uid: string): void {
    const r = this.records.get(key);
    if (r === undefined) return;
    r.deletions.delete(uid);
    this.dropIfEmpty(key, r);
  }

  /**
   * True when nothing is pending for `key`, or its record expired (the record is then dropped:
   * the caller recounts from the cache).
   */
  satisfied(key: string): boolean {
    const r = this.records.get(key);
    if (r === undefined) return true;
    if (this.clock.now() - r.setAt >= this.timeoutMs) {
      this.records.delete(key);
      return true;
    }
    return false;
  }

  /** Milliseconds until `key`'s record expires; 0 when satisfied. */
  remainingMs(key: string): number {
    const r = this.records.get(key);
    if (r === undefined) return 0;
    return Math.max(0, r.setAt + this.timeoutMs - this.clock.now());
  }

  /** What `key` still waits for (for logs and tests); undefined when nothing. */
  pending(key: string): Pending | undefined {
    const r = this.records.get(key);
    return r === undefined ? undefined : { creations: r.creations, deletions: [...r.deletions] };
  }

  /** Drops `key`'s record (the owner is gone). */
  forget(key: string): void {
    this.records.delete(key);
  }

  private record(key: string): Entry {
    let r = this.records.get(key);
    if (r === undefined) {
      r = { creations: 0, deletions: new Set(), setAt: this.clock.now() };
      this.records.set(key, r);
    }
    return r;
  }

  private dropIfEmpty(key: string, r: Entry): void {
    if (r.creations === 0 && r.deletions.size === 0) this.records.delete(key);
  }
}
