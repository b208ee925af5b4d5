/**
 * The one way the data plane talks HTTP to the router: node:http or node:https by the origin's
 * scheme, over the connection's agent (which carries the TLS settings) and headers. Request and
 * response bodies stream; the router's refusals become typed errors (`router-answers.ts`); failed
 * calls are resent only as `retry.ts` allows. Every buffered read is capped and stops when the
 * sender stalls, so a hostile router costs a bounded amount of memory and time.
 */
import { request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { z } from 'zod';
import { abortReason } from '../abort.js';
import { readBody } from '../body.js';
import { CONNECT_TIMEOUT_MS, type RouterConnection } from '../connection.js';
import {
  ClientTimeout,
  ProtocolError,
  RouterError,
  RouterUnreachable,
  SizeLimitExceeded,
} from '../errors.js';
import { errorFromResponse, MAX_ERROR_BODY_BYTES, routerCodeOf } from './router-answers.js';
import {
  CONNECT_TIMEOUT_CODE,
  certificateRejected,
  delayAfterAnswer,
  delayAfterSocketError,
} from './retry.js';

/** What every data-plane call takes besides its own arguments. */
export interface CallOptions {
  /** Cancels the call (and, for a stream, its reading): it rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** The whole call's limit: retries, and reading the answer, included. */
  readonly timeoutMs?: number;
  /** W3C trace context of the caller's span: the router continues it into the agent call. */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** A request body: bytes or text, or a stream of bytes (Node or web), sent as it is read. */
export type RequestBody =
  | Uint8Array
  | string
  | Readable
  | WebReadableStream<Uint8Array>
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>;

export interface RequestSpec extends CallOptions {
  readonly method: string;
  /** The path, each segment already encoded. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** A JSON body (sent as bytes, so it can be resent). */
  readonly json?: unknown;
  readonly body?: RequestBody;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sending it twice has the effect of sending it once (see retry.ts). */
  readonly idempotent: boolean;
  /**
   * The port route: the sandbox's own answers come back whatever their status; only answers with
   * the router's error code are errors.
   */
  readonly sandboxAnswers?: boolean;
  /**
   * How long, once the request is sent, the router may take to send the answer's headers when the
   * caller gave no `timeoutMs`: default the connection's `headersTimeoutMs`, else
   * HEADERS_TIMEOUT_MS; `'unbounded'` for an answer that legitimately comes late and is bounded
   * elsewhere (a sandbox port's own answer, by the router's idle timeout).
   */
  readonly headersWithinMs?: number | 'unbounded';
}

/** A router answer whose body is still to be read (`body`); `close()` stops reading it. */
export interface RouterResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: IncomingMessage;
  /** The caller's signal and timeout: aborted, it destroys `body` with its reason. */
  readonly signal: AbortSignal;
  close(): void;
}

/**
 * Default wait for an answer's headers once a quick call (stat, list, a file read's start, process
 * control, the answer to an upload) was sent: the router answers those in milliseconds, within
 * seconds on a loaded machine. Past it the call is a ClientTimeout, not resent: a router that takes
 * requests and never answers would take the next one too. Longer spares a router that is merely
 * slow; shorter frees a caller held by a hung one sooner. A call with its own `timeoutMs` has that
 * limit instead.
 */
export const HEADERS_TIMEOUT_MS = 30_000;
/** Longest silence while reading a buffered body (JSON, an error): the router writes it without pause. */
export const BODY_STALL_MS = 30_000;
/** Largest JSON answer held: an exec result carries both streams at the router's 4 MiB cap, base64. */
export const MAX_JSON_BYTES = 24 << 20;

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const TRACESTATE = /^[\x20-\x7e]{0,512}$/;

/** The W3C trace context headers of `options`, checked (a malformed one fails naming it). */
export function traceHeaders(options: CallOptions): Record<string, string> {
  const out: Record<string, string> = {};
  if (options.traceparent !== undefined) {
    if (!TRACEPARENT.test(options.traceparent))
      throw new TypeError(
        `traceparent: not a W3C traceparent (version-traceid-parentid-flags), got ${options.traceparent.slice(0, 80)}`,
      );
    out['traceparent'] = options.traceparent;
  }
  if (options.tracestate !== undefined) {
    if (!TRACESTATE.test(options.tracestate))
      throw new TypeError('tracestate: at most 512 printable ASCII characters');
    out['tracestate'] = options.tracestate;
  }
  return out;
}

/** Rejects with the signal's reason, or resolves after `ms`. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortReason(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The caller's signal and `timeoutMs` as one signal, and how to stop the timer. */
function callSignal(options: CallOptions): { signal: AbortSignal; done: () => void } {
  const local = new AbortController();
  const { signal, timeoutMs } = options;
  if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs <= 0))
    throw new TypeError(`timeoutMs: must be a positive number of milliseconds, got ${timeoutMs}`);
  const onAbort = (): void => local.abort(signal?.reason);
  if (signal?.aborted) local.abort(signal.reason);
  else signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(
          () => local.abort(new ClientTimeout(`the call did not finish within ${timeoutMs} ms`)),
          timeoutMs,
        );
  return {
    signal: local.signal,
    done: () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

function encodeBody(spec: RequestSpec): { bytes?: Buffer; stream?: Readable; type?: string } {
  if (spec.json !== undefined)
    return { bytes: Buffer.from(JSON.stringify(spec.json)), type: 'application/json' };
  const body = spec.body;
  if (body === undefined) return {};
  if (typeof body === 'string') return { bytes: Buffer.from(body) };
  if (body instanceof Uint8Array)
    return { bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
  if (body instanceof Readable) return { stream: body };
  if ('getReader' in body) return { stream: Readable.fromWeb(body as WebReadableStream<Uint8Array>) };
  return { stream: Readable.from(body, { objectMode: false }) };
}

/**
 * The request target as sent: the encoded path and the query, never passed through URL resolution,
 * which would turn an encoded dot segment (`%2E`, a file named `.`) into a real one and drop it.
 */
function requestTarget(spec: RequestSpec): string {
  const query = new URLSearchParams(spec.query ?? {}).toString();
  return query ? `${spec.path}?${query}` : spec.path;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** One attempt: resolves with the answer once its headers arrived. */
function attempt(
  conn: RouterConnection,
  target: string,
  spec: RequestSpec,
  headers: OutgoingHttpHeaders,
  body: { bytes?: Buffer; stream?: Readable },
  signal: AbortSignal,
  headersWithinMs: number | undefined,
): Promise<IncomingMessage> {
  const { origin } = conn;
  const send = origin.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let req: ClientRequest;
    try {
      req = send({
        protocol: origin.protocol,
        // An IPv6 literal comes bracketed from URL; the socket wants it bare.
        hostname: origin.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: origin.port,
        path: target,
        method: spec.method,
        headers,
        agent: conn.agent,
        signal,
      });
    } catch (error) {
      reject(asError(error));
      return;
    }
    const connectTimeoutMs = conn.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    req.once('socket', (socket) => {
      // A socket the agent reuses is connected already; a new one gets the connect limit. Its
      // error code says nothing left this machine, so retry.ts may resend any call.
      if (!socket.connecting) return;
      const stalled = setTimeout(
        () =>
          req.destroy(
            Object.assign(new Error(`no connection to the router within ${connectTimeoutMs} ms`), {
              code: CONNECT_TIMEOUT_CODE,
            }),
          ),
        connectTimeoutMs,
      );
      socket.once(origin.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(stalled));
      socket.once('close', () => clearTimeout(stalled));
    });
    if (headersWithinMs !== undefined) boundHeaderWait(req, headersWithinMs, `${spec.method} ${spec.path}`);
    req.once('response', resolve);
    req.once('error', (error) => reject(signal.aborted ? abortReason(signal) : error));
    // A failing source is the caller's error, not the router's: it is what the call rejects with.
    if (body.stream)
      pipeline(body.stream, req).catch((error: unknown) => {
        reject(asError(error));
        req.destroy();
      });
    else req.end(body.bytes);
  });
}

/**
 * Destroys `req` with a ClientTimeout naming `call` when no answer headers came within `ms` of
 * its last byte sent: an upload's answer comes only after the whole body, however long that takes.
 */
function boundHeaderWait(req: ClientRequest, ms: number, call: string): void {
  let wait: NodeJS.Timeout | undefined;
  let over = false;
  const stop = (): void => {
    over = true;
    clearTimeout(wait);
  };
  req.once('finish', () => {
    if (over) return;
    wait = setTimeout(
      () =>
        req.destroy(
          new ClientTimeout(
            `${call}: the router sent no answer headers within ${ms} ms (a call given its own timeoutMs waits that long instead)`,
          ),
        ),
      ms,
    );
  });
  req.once('response', stop);
  req.once('close', stop);
}

/** The header wait of `spec` (see RequestSpec.headersWithinMs); undefined when unbounded. */
function headerWait(conn: RouterConnection, spec: RequestSpec): number | undefined {
  if (spec.timeoutMs !== undefined || spec.headersWithinMs === 'unbounded') return undefined;
  return spec.headersWithinMs ?? conn.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
}

/**
 * Sends `spec`, resending as retry.ts allows, and returns the first answer that is not an error
 * (with the port route, any answer of the sandbox). Rejects with the router's typed error, a
 * ProtocolError for an answer that is not the router's, RouterUnreachable, ClientTimeout, or the
 * caller's abort reason.
 */
export async function send(conn: RouterConnection, spec: RequestSpec): Promise<RouterResponse> {
  const { signal, done } = callSignal(spec);
  try {
    const body = encodeBody(spec);
    const headers: OutgoingHttpHeaders = {
      ...conn.headers,
      ...traceHeaders(spec),
      ...(body.type ? { 'content-type': body.type } : {}),
      ...(body.bytes ? { 'content-length': body.bytes.byteLength } : {}),
      ...spec.headers,
    };
    const target = requestTarget(spec);
    const headersWithinMs = headerWait(conn, spec);
    for (let index = 0; ; index++) {
      const state = { index, idempotent: spec.idempotent, replayable: body.stream === undefined };
      let res: IncomingMessage;
      try {
        res = await attempt(conn, target, spec, headers, body, signal, headersWithinMs);
      } catch (error) {
        if (signal.aborted) throw abortReason(signal);
        if (body.stream?.errored || error instanceof ClientTimeout) throw error;
        const delay = delayAfterSocketError(state, error);
        if (delay === undefined) throw unreachable(conn, error);
        await sleep(delay, signal);
        continue;
      }
      const status = res.statusCode ?? 0;
      const refused = status < 200 || status > 299;
      if (!refused || (spec.sandboxAnswers && routerCodeOf(res.headers) === undefined)) {
        return answer(res, signal, done);
      }
      // Read to its end, the connection goes back to the agent's pool (cut short, it is destroyed).
      const text = await readCapped(res, MAX_ERROR_BODY_BYTES, signal, 'cut');
      const error = errorFromResponse(status, res.headers, text);
      const retryAfter = res.headers['retry-after'];
      const delay = error instanceof RouterError ? delayAfterAnswer(state, error, retryAfter) : undefined;
      if (delay === undefined) throw error;
      await sleep(delay, signal);
    }
  } catch (error) {
    done();
    throw error;
  }
}

function answer(res: IncomingMessage, signal: AbortSignal, done: () => void): RouterResponse {
  const onAbort = (): void => {
    res.destroy(abortReason(signal));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  res.once('close', () => {
    signal.removeEventListener('abort', onAbort);
    done();
  });
  return { status: res.statusCode ?? 0, headers: res.headers, body: res, signal, close: () => res.destroy() };
}

function unreachable(conn: RouterConnection, error: unknown): RouterUnreachable {
  const detail = error instanceof Error ? error.message : String(error);
  return new RouterUnreachable(
    certificateRejected(error)
      ? `router at ${conn.origin.origin}: its TLS certificate is not trusted (${detail}); give the connection the CA that signed it`
      : `router at ${conn.origin.origin} unreachable: ${detail}`,
    error,
  );
}

/**
 * Reads `body` whole, up to `maxBytes`: past it, `over` decides between cutting there ('cut', for
 * an error body quoted in a message) and SizeLimitExceeded ('throw'). A sender silent for
 * `stallMs` mid-body is a ProtocolError.
 */
export async function readCapped(
  body: Readable,
  maxBytes: number,
  signal: AbortSignal | undefined,
  over: 'cut' | 'throw',
  stallMs = BODY_STALL_MS,
): Promise<Buffer> {
  try {
    return await readBody(body, {
      maxBytes,
      over: over === 'cut' ? 'cut' : (max) => new SizeLimitExceeded(`the answer is larger than ${max} bytes`),
      stall: {
        ms: stallMs,
        error: (ms) => new ProtocolError(`the router sent no byte for ${ms} ms mid-body`),
      },
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw abortReason(signal);
    if (error instanceof ProtocolError || error instanceof SizeLimitExceeded) throw error;
    throw new ProtocolError(`the router's answer broke off: ${(error as Error).message}`, error);
  }
}

/** Sends `spec` and parses its JSON answer with `schema`; `what` names it in errors. */
export async function callJson<T>(
  conn: RouterConnection,
  spec: RequestSpec,
  schema: z.ZodType<T>,
  what: string,
): Promise<T> {
  const res = await send(conn, spec);
  const text = await readCapped(res.body, MAX_JSON_BYTES, res.signal, 'throw');
  return parseJson(text, schema, what);
}

/** Parses `text` as JSON with `schema`: a ProtocolError naming `what` and the field otherwise. */
export function parseJson<T>(text: Buffer | string, schema: z.ZodType<T>, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text.toString());
  } catch {
    throw new ProtocolError(`${what}: the router's answer is not JSON: ${text.toString().slice(0, 80)}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.length ? `${what}.${issue.path.join('.')}` : what;
    throw new ProtocolError(`${field}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Sends `spec` and drains its (empty) answer. */
export async function callEmpty(conn: RouterConnection, spec: RequestSpec): Promise<void> {
  const res = await send(conn, spec);
  await readCapped(res.body, MAX_ERROR_BODY_BYTES, res.signal, 'cut');
}
