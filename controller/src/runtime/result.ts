/**
 * What a reconcile pass returns, and the one place that decides what happens to its key next.
 * Expected waiting (no warm pod yet, a timer not due) is a Result, not an error; errors are
 * either terminal (no retry: the reconciler already recorded a False condition) or retried with
 * per-key backoff, or after a given delay.
 */

export interface Result {
  /** Reconcile this key again after this many milliseconds (timers: TTLs, shutdown times). */
  readonly requeueAfterMs?: number;
}

export const done: Result = {};

export function requeueAfter(ms: number): Result {
  return { requeueAfterMs: Math.max(0, Math.ceil(ms)) };
}

/** A failure retrying cannot fix (bad spec, missing template). Never retried by backoff. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Retry after `ms` rather than with exponential backoff (e.g. a known wait). */
export class RetryAfter extends Error {
  override readonly name = 'RetryAfter';
  constructor(
    readonly ms: number,
    message: string,
  ) {
    super(message);
  }
}

export type Decision =
  | { readonly action: 'forget' }
  | { readonly action: 'after'; readonly ms: number }
  | { readonly action: 'backoff' };

/** Maps a reconcile outcome to the queue operation: the single source of requeue policy. */
export function decideRequeue(outcome: { readonly result: Result } | { readonly error: unknown }): Decision {
  if ('result' in outcome) {
    const ms = outcome.result.requeueAfterMs;
    return ms === undefined ? { action: 'forget' } : { action: 'after', ms };
  }
  if (outcome.error instanceof TerminalError) return { action: 'forget' };
  if (outcome.error instanceof RetryAfter) return { action: 'after', ms: outcome.error.ms };
  return { action: 'backoff' };
}

/** Bounded label for metrics: never a name or a raw message. */
export function resultLabel(outcome: { readonly result: Result } | { readonly error: unknown }): string {
  if ('result' in outcome) return outcome.result.requeueAfterMs === undefined ? 'success' : 'requeue_after';
  if (outcome.error instanceof TerminalError) return 'terminal_error';
  if (outcome.error instanceof RetryAfter) return 'retry_after';
  return 'error';
}
