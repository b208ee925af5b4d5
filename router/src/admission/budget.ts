/**
 * How long admitted work may run. Each surface has its own way of saying it (X-Sandbox-Timeout on
 * HTTP, the session lifetime on WebSocket, a gRPC call's own deadline); the admission turns it into
 * one absolute deadline for every agent call, and one error for when it passes.
 */
import { RouterError } from '../errors.js';
import { TimeoutHeader } from '../http/validate.js';

export interface Budget {
  /** Absolute, ms since the epoch. */
  readonly deadline: number;
  /**
   * What the admission aborts the work with at the deadline. Absent when the transport enforces
   * the deadline itself: a gRPC caller's deadline travels with the relayed call.
   */
  readonly expired?: () => RouterError;
}

/**
 * An HTTP request: `X-Sandbox-Timeout` seconds (as upstream's Python router), capped by `capMs`,
 * which is also the default; past it, 504 deadline_exceeded.
 */
export function requestBudget(header: string | string[] | undefined, capMs: number): Budget {
  const ms = budgetMs(timeoutSeconds(header), capMs);
  return {
    deadline: Date.now() + ms,
    expired: () =>
      new RouterError(
        'deadline_exceeded',
        `the request did not finish within its timeout (${ms / 1000} s; X-Sandbox-Timeout, capped by the router)`,
      ),
  };
}

/**
 * A WebSocket session: its maximum lifetime, or less when `X-Sandbox-Timeout` asks for less.
 * Ends with 4408 lifetime_exceeded at the lifetime, 4504 deadline_exceeded at a shorter timeout.
 */
export function sessionBudget(header: string | string[] | undefined, lifetimeMs: number): Budget {
  const ms = budgetMs(timeoutSeconds(header), lifetimeMs);
  return {
    deadline: Date.now() + ms,
    expired: () =>
      ms < lifetimeMs
        ? new RouterError(
            'deadline_exceeded',
            `the session did not finish within its timeout (${ms / 1000} s; X-Sandbox-Timeout)`,
          )
        : new RouterError('lifetime_exceeded', `session reached its ${lifetimeMs / 1000} s lifetime`),
  };
}

/**
 * A gRPC call: the caller's deadline, capped by `capMs`; without one, `defaultMs` from now. A
 * caller's deadline within the cap travels with the relayed call and grpc-js enforces it; past
 * the cap, or without a deadline, the router ends the call at its own (DEADLINE_EXCEEDED,
 * deadline_exceeded), so no caller can hold a stream longer than the router allows.
 */
export function callBudget(callerDeadline: Date | number, defaultMs: number, capMs: number): Budget {
  const at = callerDeadline instanceof Date ? callerDeadline.getTime() : callerDeadline;
  const now = Date.now();
  if (Number.isFinite(at) && at <= now + capMs) return { deadline: at };
  const ms = Number.isFinite(at) ? capMs : Math.min(defaultMs, capMs);
  return {
    deadline: now + ms,
    expired: () =>
      new RouterError(
        'deadline_exceeded',
        Number.isFinite(at)
          ? `the call reached the router's maximum of ${ms / 1000} s (its own deadline was later)`
          : `the call reached the router's default deadline of ${ms / 1000} s; set a gRPC deadline for more`,
      ),
  };
}

/** `X-Sandbox-Timeout` in seconds, or undefined when absent; invalid_argument when malformed. */
function timeoutSeconds(header: string | string[] | undefined): number | undefined {
  const parsed = TimeoutHeader.safeParse(header);
  if (!parsed.success) {
    throw new RouterError('invalid_argument', 'X-Sandbox-Timeout: must be a positive number of seconds');
  }
  return parsed.data;
}

/** The seconds asked for, in ms, capped by `capMs`, which is also the default. */
function budgetMs(askedSeconds: number | undefined, capMs: number): number {
  const asked = askedSeconds === undefined ? capMs : Math.round(askedSeconds * 1000);
  return Math.min(Math.max(asked, 1), capMs);
}
