/**
 * The data plane's own errors. Router answers become the per-code classes of
 * `generated/router-errors.ts`, all of them a `RouterError`; what the client itself finds wrong
 * (an answer outside the protocol, a stream cut for good, a local deadline or size cap) is one of
 * the classes here. Every class is a `SandbankError`.
 */
import { SandbankError } from './client-errors.js';

/** Statics every router error class carries: its row of the router's code table. */
export interface RouterCodeSpec {
  readonly code: string;
  readonly httpStatus: number | undefined;
  readonly retryable: boolean;
}

/** What a router error is made from: the router's answer, as the client read it. */
export interface RouterErrorInit {
  /** The code the router sent, when this class is the fallback for a code the client does not know. */
  readonly code?: string;
  /** The HTTP status it came with (a WebSocket close maps back to one). */
  readonly httpStatus?: number;
  readonly cause?: unknown;
}

const causeOf = (cause: unknown): ErrorOptions | undefined => (cause === undefined ? undefined : { cause });

/**
 * An error the Sandbank router answered. Thrown as itself only for a code this client does not
 * know (a newer router); every known code has its own subclass, whose statics are its table row.
 */
export class RouterError extends SandbankError {
  static readonly code: string = 'unknown';
  static readonly httpStatus: number | undefined = undefined;
  static readonly retryable: boolean = false;

  readonly httpStatus: number | undefined;

  constructor(message: string, init: RouterErrorInit = {}) {
    const spec: RouterCodeSpec = new.target;
    super(message, init.code ?? spec.code, spec.retryable, causeOf(init.cause));
    this.httpStatus = init.httpStatus ?? spec.httpStatus;
  }
}

/**
 * The router answered outside its protocol: a body that is not its JSON, an attach frame
 * truncated, oversized, of an unknown kind or out of order, a WebSocket frame of no known type, a
 * stream that stalled inside a frame, or an answer without the router's error code (a proxy's
 * page). The client stops there rather than guess or buffer without bound.
 */
export class ProtocolError extends SandbankError {
  constructor(message: string, cause?: unknown) {
    super(message, 'protocol_error', false, causeOf(cause));
  }
}

/**
 * An exec stream ended without an exit status, or a process's output stream was cut and could not
 * be resumed (the message names the offset to resume from).
 */
export class StreamClosed extends SandbankError {
  constructor(message: string, cause?: unknown) {
    super(message, 'stream_closed', false, causeOf(cause));
  }
}

/**
 * A local wait ran out: a `wait({ timeoutMs })` (the process runs on), a call's `timeoutMs`, or,
 * without one, the wait for the router's answer headers (`HEADERS_TIMEOUT_MS` in http/request.ts).
 */
export class ClientTimeout extends SandbankError {
  constructor(message: string, cause?: unknown) {
    super(message, 'client_timeout', false, causeOf(cause));
  }
}

/** A read asked to hold more than its cap (`readBytes({ maxBytes })`); nothing past the cap was kept. */
export class SizeLimitExceeded extends SandbankError {
  constructor(message: string, cause?: unknown) {
    super(message, 'size_limit_exceeded', false, causeOf(cause));
  }
}

/** The router could not be reached (refused, reset before an answer, TLS rejected). */
export class RouterUnreachable extends SandbankError {
  constructor(message: string, cause?: unknown) {
    super(message, 'router_unreachable', true, causeOf(cause));
  }
}
