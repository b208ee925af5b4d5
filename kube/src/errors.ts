/**
 * One error type for every API failure, with a closed `kind` that decides what a reconciler does
 * next (404 → gone, 409 → lost a race, 5xx → retry). `toKubeError` maps anything thrown by our
 * transport, by @kubernetes/client-node (ApiException, watch errors) or by Node's sockets.
 */
import { inspect } from 'node:util';
import type { KubeErrorKind } from './types.js';

export class KubeError extends Error {
  override readonly name = 'KubeError';
  constructor(
    readonly kind: KubeErrorKind,
    /** HTTP status; 0 when no response arrived (connection refused, timeout, aborted). */
    readonly status: number,
    message: string,
    /** The API server's `Status.reason` (e.g. `AlreadyExists`, `Expired`), when it sent one. */
    readonly reason?: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The subset of a `meta/v1 Status` body we read. */
interface StatusBody {
  readonly message?: unknown;
  readonly reason?: unknown;
  readonly code?: unknown;
}

/** Socket and DNS failures that mean "the API server is not reachable right now". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Maps an HTTP status (and the Status reason) to a kind. */
export function kindOf(status: number, reason?: string): KubeErrorKind {
  if (status === 409) return reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict';
  if (status === 404) return 'NotFound';
  if (status === 422) return 'Invalid';
  if (status === 401 || status === 403) return 'Forbidden';
  if (status === 410) return 'Gone';
  // 429 (priority and fairness throttling) and 5xx are transient by definition.
  if (status === 429 || status >= 500) return 'Unavailable';
  if (status === 0) return 'Unavailable';
  return 'Other';
}

/** A KubeError from a status code and a response body (a Status object, JSON text, or nothing). */
export function kubeErrorFromResponse(status: number, body: unknown, what: string): KubeError {
  const parsed = parseStatus(body);
  const reason = typeof parsed?.reason === 'string' && parsed.reason !== '' ? parsed.reason : undefined;
  const serverMessage = typeof parsed?.message === 'string' ? parsed.message : undefined;
  const message = `${what}: HTTP ${status}${reason ? ` ${reason}` : ''}${serverMessage ? `: ${serverMessage}` : ''}`;
  return new KubeError(kindOf(status, reason), status, message, reason);
}

/** Normalizes anything thrown while talking to the API server. Idempotent on KubeErrors. */
export function toKubeError(err: unknown, what = 'kube request'): KubeError {
  if (err instanceof KubeError) return err;
  if (typeof err === 'object' && err !== null) {
    const e = err as {
      code?: unknown;
      statusCode?: unknown;
      body?: unknown;
      name?: unknown;
      message?: unknown;
    };
    const message = typeof e.message === 'string' ? e.message : inspect(err, { breakLength: Infinity });
    // Before the status check: DOMExceptions carry a numeric legacy `code` (AbortError is 20).
    if (e.name === 'AbortError' || e.name === 'TimeoutError') {
      return new KubeError('Unavailable', 0, `${what}: ${message}`, undefined, { cause: err });
    }
    // client-node's ApiException (numeric `code`, Status in `body`) and its watch errors
    // (`statusCode`).
    const status =
      typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
    if (status !== undefined && status >= 100 && status <= 599) {
      const ke = kubeErrorFromResponse(status, e.body, what);
      return new KubeError(ke.kind, ke.status, ke.message, ke.reason, { cause: err });
    }
    if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) {
      return new KubeError('Unavailable', 0, `${what}: ${e.code}: ${message}`, undefined, { cause: err });
    }
    // A fetch failure (client-node 1.x, undici) wraps the socket error in `cause`.
    const cause = (err as { cause?: unknown }).cause;
    if (cause !== undefined && cause !== err) {
      const inner = toKubeError(cause, what);
      if (inner.kind === 'Unavailable')
        return new KubeError('Unavailable', 0, inner.message, undefined, { cause: err });
    }
    return new KubeError('Other', 0, `${what}: ${message}`, undefined, { cause: err });
  }
  return new KubeError('Other', 0, `${what}: ${String(err)}`, undefined, { cause: err });
}

/** True when `err` is a KubeError of `kind` (or, without `kind`, any KubeError). */
export function isKubeError(err: unknown, kind?: KubeErrorKind): err is KubeError {
  return err instanceof KubeError && (kind === undefined || err.kind === kind);
}

function parseStatus(body: unknown): StatusBody | undefined {
  if (typeof body === 'string') {
    if (body === '') return undefined;
    try {
      const parsed: unknown = JSON.parse(body);
      return typeof parsed === 'object' && parsed !== null ? parsed : { message: body };
    } catch {
      return { message: body.slice(0, 500) };
    }
  }
  if (typeof body === 'object' && body !== null) return body;
  return undefined;
}
