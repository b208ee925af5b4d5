/**
 * When a failed call is sent again, and after how long. A call is resent only when sending it
 * again cannot run anything twice:
 * - it provably never reached the sandbox: the connection was refused, or the router answered a
 *   code of `NEVER_REACHED_CODES` (each of them retryable in the router's table);
 * - or it is idempotent (reads, stat, list, an atomic whole-file write, a resize) and the router's
 *   table marks the answer's code retryable, or the connection broke before an answer.
 * So `run` never executes twice. Attempts and waits are bounded: back-offs of about 2.5 s in all
 * (each `Retry-After` is capped at 2 s instead, so at most about 10 s of waiting), enough to ride
 * over a router replica restarting; a longer outage surfaces as the error.
 */
import type { RouterError } from '../errors.js';

/** Attempts per call (the first included). */
export const MAX_ATTEMPTS = 6;
/** First back-off, doubled each attempt up to `MAX_BACKOFF_MS`. */
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 1_000;
/** Longest `Retry-After` honoured: the router sends 1 s; a larger value is capped, not obeyed. */
const MAX_RETRY_AFTER_MS = 2_000;

/** Router codes answered before anything ran in the sandbox (`rate_limited` before authentication,
 * `output_budget_exhausted` before the run). */
export const NEVER_REACHED_CODES: ReadonlySet<string> = new Set([
  'sandbox_not_ready',
  'too_many_streams',
  'rate_limited',
  'output_budget_exhausted',
  'upstream_unavailable',
  'shutting_down',
]);

/** The code of request.ts's own error for a connection (TCP or TLS) not made within its limit. */
export const CONNECT_TIMEOUT_CODE = 'SANDBANK_CONNECT_TIMEOUT';

/** Socket errors raised before a request could leave: nothing reached the router. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  CONNECT_TIMEOUT_CODE,
]);

export function errnoOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Whether `error` is the router's TLS certificate failing verification: no retry changes that. */
export function certificateRejected(error: unknown): boolean {
  const code = errnoOf(error) ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME/.test(code);
}

export interface Attempt {
  /** 0 for the first attempt. */
  readonly index: number;
  readonly idempotent: boolean;
  /** Whether the body can be sent again (bytes, not a stream already consumed). */
  readonly replayable: boolean;
}

/** Milliseconds to wait before the next attempt, or undefined when the call must not be resent. */
export function delayAfterAnswer(
  attempt: Attempt,
  error: RouterError,
  retryAfter: string | undefined,
): number | undefined {
  if (!attempt.replayable || attempt.index + 1 >= MAX_ATTEMPTS || !error.retryable) return undefined;
  if (!attempt.idempotent && !NEVER_REACHED_CODES.has(error.code)) return undefined;
  if (retryAfter !== undefined && /^\d{1,6}$/.test(retryAfter))
    return Math.min(Number(retryAfter) * 1000, MAX_RETRY_AFTER_MS);
  return backoff(attempt.index);
}

/** Milliseconds to wait after a socket error before any answer, or undefined to give up. */
export function delayAfterSocketError(attempt: Attempt, error: unknown): number | undefined {
  if (!attempt.replayable || attempt.index + 1 >= MAX_ATTEMPTS || certificateRejected(error))
    return undefined;
  const notConnected = NOT_CONNECTED.has(errnoOf(error) ?? '');
  return notConnected || attempt.idempotent ? backoff(attempt.index) : undefined;
}

function backoff(index: number): number {
  return Math.min(FIRST_BACKOFF_MS * 2 ** index, MAX_BACKOFF_MS);
}
