/**
 * How long a failing key waits before its next attempt. Per-key exponential backoff (client-go's
 * ItemExponentialFailureRateLimiter) plus an optional overall token bucket, combined by taking
 * the longer wait.
 */
import type { Clock } from './clock.js';
import { realClock } from './clock.js';

export interface RateLimiter<K> {
  /** Delay before `key` may be retried; each call counts one more failure of `key`. */
  when(key: K): number;
  /** Forget the failures of `key` (it succeeded, or it no longer exists). */
  forget(key: K): void;
  /** Failures of `key` since it was last forgotten. */
  retries(key: K): number;
}

/**
 * Base 5 ms: a write that lost a race (409) or hit a brief apiserver hiccup is retried almost at
 * once, which is what the claim hot path wants; the doubling reaches 1 s after 8 failures and
 * 10 s after 12. Cap 60 s: a key that keeps failing (a webhook down, RBAC missing) retries once a
 * minute — low enough that recovery is noticed within a minute, high enough that hundreds of
 * broken objects cost a few requests per second. client-go caps at 1000 s, which hides recovery
 * for a quarter of an hour.
 */
export const DEFAULT_BACKOFF_BASE_MS = 5;
export const DEFAULT_BACKOFF_MAX_MS = 60_000;

export interface ExponentialBackoffOptions {
  readonly baseMs?: number;
  readonly maxMs?: number;
}

/** `baseMs * 2^failures`, capped at `maxMs`; the failure count is per key. */
export function exponentialBackoff<K>(opts: ExponentialBackoffOptions = {}): RateLimiter<K> {
  const baseMs = opts.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const maxMs = opts.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
  if (!(baseMs > 0) || !(maxMs >= baseMs)) {
    throw new RangeError(`backoff needs 0 < baseMs <= maxMs (got ${baseMs}, ${maxMs})`);
  }
  const failures = new Map<K, number>();
  return {
    when(key) {
      const n = failures.get(key) ?? 0;
      failures.set(key, n + 1);
      // 2^n overflows to Infinity long after the cap is reached; Math.min handles that.
      return Math.min(baseMs * 2 ** n, maxMs);
    },
    forget(key) {
      failures.delete(key);
    },
    retries(key) {
      return failures.get(key) ?? 0;
    },
  };
}

export interface TokenBucketOptions {
  /** Sustained retries per second across all keys. */
  readonly qps: number;
  /** Retries allowed at once before the rate applies. */
  readonly burst: number;
  readonly clock?: Clock;
}

/**
 * An overall limit on retries (client-go's BucketRateLimiter): protects the API server when many
 * keys fail together, at the price of delaying unrelated retries. Not used by default — a burst
 * of claims that all lose a race would queue behind each other — but available when a controller
 * can fail en masse.
 */
export function tokenBucket<K>(opts: TokenBucketOptions): RateLimiter<K> {
  if (!(opts.qps > 0) || !(opts.burst >= 1)) {
    throw new RangeError(`token bucket needs qps > 0 and burst >= 1 (got ${opts.qps}, ${opts.burst})`);
  }
  const clock = opts.clock ?? realClock;
  const intervalMs = 1000 / opts.qps;
  // GCRA: `tat` is the theoretical arrival time of the next token. A call never blocks; it
  // reserves a token and returns how far in the future that token is.
  let tat = clock.now();
  return {
    when() {
      const now = clock.now();
      tat = Math.max(tat, now);
      const delay = Math.max(0, tat - now - (opts.burst - 1) * intervalMs);
      tat += intervalMs;
      return delay;
    },
    forget() {},
    retries() {
      return 0;
    },
  };
}

/** The longest wait of several limiters; `retries` is the highest count among them. */
export function maxOf<K>(...limiters: readonly RateLimiter<K>[]): RateLimiter<K> {
  return {
    when(key) {
      let ms = 0;
      for (const l of limiters) ms = Math.max(ms, l.when(key));
      return ms;
    },
    forget(key) {
      for (const l of limiters) l.forget(key);
    },
    retries(key) {
      let n = 0;
      for (const l of limiters) n = Math.max(n, l.retries(key));
      return n;
    },
  };
}
