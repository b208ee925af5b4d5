/**
 * Per-caller concurrency: every request, WebSocket session and gRPC call to a sandbox holds one
 * slot of its caller's budget (the authenticated principal's, see Principal.callerKey) until it
 * ends. Past the budget the caller gets `too_many_streams` (429, Retry-After) instead of a queue,
 * so one client cannot starve the others or the agents. And the limit before authentication.
 */
import { RouterError } from './errors.js';

export interface StreamSlot {
  /** A detached callback: safe to pass around without its slot. */
  readonly release: () => void;
}

export class StreamLimiter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly maxPerCaller: number) {}

  acquire(callerKey: string): StreamSlot {
    const current = this.counts.get(callerKey) ?? 0;
    if (current >= this.maxPerCaller) {
      throw new RouterError(
        'too_many_streams',
        `at most ${this.maxPerCaller} concurrent requests and streams per caller; retry when one ends`,
        { retryAfterSeconds: 1 },
      );
    }
    this.counts.set(callerKey, current + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const n = (this.counts.get(callerKey) ?? 1) - 1;
        if (n <= 0) this.counts.delete(callerKey);
        else this.counts.set(callerKey, n);
      },
    };
  }

  /** Slots held by all callers (for tests and shutdown). */
  get total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }
}

export interface PreAuthOptions {
  /** Attempts each client address regains per second. */
  readonly ratePerSecond: number;
  /** Attempts a client address may make at once (the bucket's size). */
  readonly burst: number;
  /** Addresses remembered; past it the least recently seen are forgotten. */
  readonly maxAddresses?: number;
  readonly now?: () => number;
}

/**
 * The limit before authentication: a token bucket per client address (see addressKey), charged
 * for every request whose credentials the router cannot vouch for from memory, and refunded when
 * they turn out good. So random tokens from one address cost at most `burst` TokenReviews at once
 * and `ratePerSecond` after that, while callers the router already knows are never charged, even
 * behind one load balancer address with the flood. Past it: `rate_limited` (429, Retry-After).
 */
export class PreAuthLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly max: number;
  private readonly now: () => number;

  constructor(private readonly opts: PreAuthOptions) {
    this.max = opts.maxAddresses ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Charges one attempt to `key`; the returned callback gives it back (once). */
  take(key: string): () => void {
    const t = this.now();
    const bucket = this.refilled(key, t);
    // A bucket refilled in many small steps can fall short of a whole attempt by a rounding error.
    if (bucket.tokens < 1 - 1e-9) {
      const wait = Math.max(1, Math.ceil((1 - bucket.tokens) / this.opts.ratePerSecond));
      throw new RouterError(
        'rate_limited',
        'too many requests with credentials not yet verified from this address; retry later',
        { retryAfterSeconds: wait },
      );
    }
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    let refunded = false;
    return () => {
      if (refunded) return;
      refunded = true;
      const b = this.buckets.get(key);
      if (b) b.tokens = Math.min(this.opts.burst, b.tokens + 1);
    };
  }

  /** Addresses remembered (for tests). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string, t: number): { tokens: number; at: number } {
    const old = this.buckets.get(key);
    const tokens = old
      ? Math.min(this.opts.burst, old.tokens + ((t - old.at) / 1000) * this.opts.ratePerSecond)
      : this.opts.burst;
    const bucket = { tokens, at: t };
    // Re-inserted, so the map's order is least recently seen first: what goes when it is full.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    while (this.buckets.size > this.max) {
      const oldest = this.buckets.keys().next();
      if (oldest.done) break;
      this.buckets.delete(oldest.value);
    }
    return bucket;
  }
}
