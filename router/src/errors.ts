/**
 * The router's one error type and its closed code table.
 *
 * Every failure a client can see is a `RouterError` whose `code` comes from `ErrorCodes`; the
 * table decides the HTTP status, the WebSocket close code and the gRPC status, so the three
 * surfaces always agree and clients can switch on the code. WebSocket close codes follow one
 * rule: 4000 + the HTTP status, except the three the protocol itself defines (1001 going away,
 * 1009 message too big, 1011 internal error). Codes that share an HTTP status share a close code,
 * so the close reason always starts with `<code>:` to tell them apart.
 *
 * `cause` is kept for the logs and never rendered into a response.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

interface CodeSpec {
  readonly http: number;
  readonly ws: number;
  readonly grpc: GrpcStatus;
  /** Whether a client may retry the same request unchanged (the legacy client retries 5xx). */
  readonly retryable: boolean;
}

export const ErrorCodes = {
  /** A header, path, query or body failed validation; the message names the field. */
  invalid_argument: { http: 400, ws: 4400, grpc: GrpcStatus.INVALID_ARGUMENT, retryable: false },
  /** No credentials, or credentials the configured auth mode does not accept. */
  unauthenticated: { http: 401, ws: 4401, grpc: GrpcStatus.UNAUTHENTICATED, retryable: false },
  /** Authenticated, but not allowed to use this sandbox (or the agent refused a path). */
  permission_denied: { http: 403, ws: 4403, grpc: GrpcStatus.PERMISSION_DENIED, retryable: false },
  /** No such sandbox (claim, Sandbox or bound Pod), or no such file in it. */
  not_found: { http: 404, ws: 4404, grpc: GrpcStatus.NOT_FOUND, retryable: false },
  /** The route exists but not with this method. */
  method_not_allowed: { http: 405, ws: 4405, grpc: GrpcStatus.UNIMPLEMENTED, retryable: false },
  /**
   * A WebSocket session saw no message in either direction for the idle timeout, or no start frame
   * within the start timeout (pings and pongs are not messages).
   */
  idle_timeout: { http: 408, ws: 4408, grpc: GrpcStatus.DEADLINE_EXCEEDED, retryable: false },
  /** A WebSocket session reached its maximum lifetime. */
  lifetime_exceeded: { http: 408, ws: 4408, grpc: GrpcStatus.DEADLINE_EXCEEDED, retryable: false },
  /** The target exists already (an exclusive write, a directory). */
  already_exists: { http: 409, ws: 4409, grpc: GrpcStatus.ALREADY_EXISTS, retryable: false },
  /** The request does not fit the target's state (a directory where a file is needed, …). */
  failed_precondition: { http: 409, ws: 4409, grpc: GrpcStatus.FAILED_PRECONDITION, retryable: false },
  /** A request body or WebSocket message over the configured size. */
  payload_too_large: { http: 413, ws: 1009, grpc: GrpcStatus.RESOURCE_EXHAUSTED, retryable: false },
  /** Too many concurrent streams for this caller; retry after `Retry-After` seconds. */
  too_many_streams: { http: 429, ws: 4429, grpc: GrpcStatus.RESOURCE_EXHAUSTED, retryable: true },
  /**
   * Too many requests with credentials the router has not verified yet from this client address
   * (the limit before authentication); retry after `Retry-After` seconds.
   */
  rate_limited: { http: 429, ws: 4429, grpc: GrpcStatus.RESOURCE_EXHAUSTED, retryable: true },
  /**
   * The router already holds its budget of buffered exec output (all callers together); retry
   * after `Retry-After` seconds, ask for less output, or stream it (WebSocket exec, gRPC Exec).
   */
  output_budget_exhausted: { http: 429, ws: 4429, grpc: GrpcStatus.RESOURCE_EXHAUSTED, retryable: true },
  /** The caller went away or cancelled. */
  canceled: { http: 499, ws: 4499, grpc: GrpcStatus.CANCELLED, retryable: false },
  /** A bug in the router. The log has the cause. */
  internal: { http: 500, ws: 1011, grpc: GrpcStatus.INTERNAL, retryable: true },
  /** The sandbox does not support this (for example the Sandbank API on a pod without an agent). */
  unimplemented: { http: 501, ws: 4501, grpc: GrpcStatus.UNIMPLEMENTED, retryable: false },
  /** The agent could not be reached (dial failure, connection lost before any response). */
  upstream_unavailable: { http: 502, ws: 4502, grpc: GrpcStatus.UNAVAILABLE, retryable: true },
  /** The agent answered with an error of its own (INTERNAL, UNKNOWN, a malformed reply). */
  upstream_failed: { http: 502, ws: 4502, grpc: GrpcStatus.UNKNOWN, retryable: true },
  /** The sandbox exists but has no Ready pod yet; retry after `Retry-After` seconds. */
  sandbox_not_ready: { http: 503, ws: 4503, grpc: GrpcStatus.UNAVAILABLE, retryable: true },
  /** The router is draining for shutdown; another replica will answer. */
  shutting_down: { http: 503, ws: 1001, grpc: GrpcStatus.UNAVAILABLE, retryable: true },
  /** The agent's disk, a limit of the agent, or its process table is full. */
  resource_exhausted: { http: 507, ws: 4507, grpc: GrpcStatus.RESOURCE_EXHAUSTED, retryable: false },
  /**
   * The sandbox hit its memory limit and was killed, agent and all, while a call ran: its Pod's
   * container status says `OOMKilled` (docs/exit-metadata.md). Running the same again likely
   * meets the same end.
   */
  sandbox_oom_killed: { http: 507, ws: 4507, grpc: GrpcStatus.RESOURCE_EXHAUSTED, retryable: false },
  /** The request's deadline (`X-Sandbox-Timeout`, capped) passed before the agent answered. */
  deadline_exceeded: { http: 504, ws: 4504, grpc: GrpcStatus.DEADLINE_EXCEEDED, retryable: true },
} as const satisfies Record<string, CodeSpec>;

export type ErrorCode = keyof typeof ErrorCodes;

export const ERROR_CODE_NAMES = Object.keys(ErrorCodes) as readonly ErrorCode[];

export interface RouterErrorOptions {
  readonly cause?: unknown;
  /** Seconds for `Retry-After` (429 and 503). */
  readonly retryAfterSeconds?: number;
}

export class RouterError extends Error {
  override readonly name = 'RouterError';
  readonly code: ErrorCode;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: RouterErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get httpStatus(): number {
    return ErrorCodes[this.code].http;
  }

  get wsCloseCode(): number {
    return ErrorCodes[this.code].ws;
  }

  get grpcStatus(): GrpcStatus {
    return ErrorCodes[this.code].grpc;
  }

  /**
   * A WebSocket close reason: `<code>: <message>`, cut to the protocol's 123 bytes without
   * splitting a UTF-8 sequence.
   */
  get wsCloseReason(): string {
    const full = `${this.code}: ${this.message}`;
    const bytes = Buffer.from(full, 'utf8');
    if (bytes.length <= 123) return full;
    return bytes
      .subarray(0, 123)
      .toString('utf8')
      .replace(/\uFFFD+$/, '');
  }

  /** The body of a Sandbank API error. */
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }

  /**
   * Any thrown value as a RouterError: itself; an abort as `canceled`; anything else as
   * `internal` with the original kept as `cause` (for the log only).
   */
  static from(error: unknown): RouterError {
    if (error instanceof RouterError) return error;
    if (isAbortError(error))
      return new RouterError('canceled', 'the request was cancelled', { cause: error });
    return new RouterError('internal', 'internal router error; the router log has the details', {
      cause: error,
    });
  }
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}
