/**
 * Plain HTTP to a pod's port, streaming both ways, as upstream's router does: for runtimes that
 * serve the legacy REST API themselves (no Sandbank agent) and for ports other than the agent's.
 * Hop-by-hop headers, `Host`, `Authorization` and the router's own headers never reach the pod.
 *
 * The pod is untrusted: whatever it answers decides only its own request, never the router's
 * life. Its status line and headers are checked before a byte is forwarded (a status outside
 * 200–599 after at most `MAX_INFORMATIONAL` 1xx, a header Node would refuse to write: 502 with the
 * router's own error body), and what it says may not speak for the router's origin (see
 * `podResponseHeaders`).
 *
 * The port route's WebSocket dial (ports/upgrade.ts) reaches the pod the same way: the same
 * request headers (`podRequestHeaders`), timers and failure sorting (`podRequest`).
 */
import { request, validateHeaderName, validateHeaderValue } from 'node:http';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Request, Response } from 'express';
import { RouterError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { RouterMetrics, UpstreamRejection } from '../observability/metrics.js';
import type { Endpoint } from '../resolve/index.js';
import type { Scope } from './pipeline.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const STRIPPED = new Set(['host', 'authorization', 'cookie']);

/**
 * Response headers a pod may not send to API clients as if the router had: cookies and
 * credential prompts (credentials travel only between the client and the router), headers that
 * bind the router's whole origin (HSTS, Alt-Svc, Clear-Site-Data, key pins), the security
 * headers the router sets itself, and the router's own `X-Sandbank-*` (a pod must not forge an
 * error code).
 */
const POD_MAY_NOT_SEND = new Set([
  'set-cookie',
  'set-cookie2',
  'www-authenticate',
  'strict-transport-security',
  'alt-svc',
  'clear-site-data',
  'public-key-pins',
  'public-key-pins-report-only',
  'content-security-policy',
  'content-security-policy-report-only',
  'x-content-type-options',
]);

/**
 * Set on every proxied response: the pod's HTML (or anything a browser would sniff as HTML)
 * renders as an opaque origin with scripts off, so it can never act as the router's origin.
 */
const SANDBOXED = { 'content-security-policy': 'sandbox', 'x-content-type-options': 'nosniff' } as const;

/**
 * 1xx answers skipped before the final one. Each is parsed and dropped with no backpressure, so a
 * pod sending them forever would burn the router's CPU at line rate until the deadline.
 */
export const MAX_INFORMATIONAL = 100;

/** How the client reached the router: a TLS socket (an HTTPS server's) says `https`. */
export function forwardedProto(req: { readonly socket: object }): 'http' | 'https' {
  return 'encrypted' in req.socket && req.socket.encrypted === true ? 'https' : 'http';
}

/** The headers that may travel between client and pod, in either direction. */
export function forwardableHeaders(headers: IncomingHttpHeaders, request: boolean): OutgoingHttpHeaders {
  const listed = new Set(
    (headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== ''),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    // The router's own headers (routing, auth, errors) are the router's business, never a pod's.
    if (request && (STRIPPED.has(name) || name.startsWith('x-sandbox-') || name.startsWith('x-sandbank-')))
      continue;
    out[name] = value;
  }
  return out;
}

/** The pod's response headers as the client gets them: forwardable, allowed, sandboxed. */
export function podResponseHeaders(
  headers: IncomingHttpHeaders,
  alsoDropped: ReadonlySet<string> = new Set(),
): OutgoingHttpHeaders {
  const allowed = Object.entries(forwardableHeaders(headers, false)).filter(
    ([name]) => !POD_MAY_NOT_SEND.has(name) && !alsoDropped.has(name) && !name.startsWith('x-sandbank-'),
  );
  return { ...Object.fromEntries(allowed), ...SANDBOXED };
}

/** Why a pod's response cannot be forwarded, or undefined when it can. */
export function unforwardable(
  status: number | undefined,
  headers: OutgoingHttpHeaders,
): { reason: UpstreamRejection; detail: string } | undefined {
  if (status === undefined || !Number.isInteger(status) || status < 200 || status > 599) {
    return { reason: 'bad_status', detail: `status ${String(status)}` };
  }
  for (const [name, value] of Object.entries(headers)) {
    try {
      validateHeaderName(name);
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) validateHeaderValue(name, String(v));
    } catch {
      return { reason: 'bad_header', detail: `header ${JSON.stringify(name.slice(0, 64))}` };
    }
  }
  return undefined;
}

/** The HTTP parser's (or the socket's) failure, as a rejection reason. */
function failureReason(error: unknown): UpstreamRejection {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  return code.startsWith('HPE_') ? 'malformed' : 'closed';
}

/**
 * A redirect from the pod names the pod's own address (`http://10.244.0.7:8888/list/`): the
 * client cannot reach it, and it tells the client the cluster's internal addresses. Such a
 * Location becomes its path (resolved against the router by the client); others pass unchanged.
 */
export function relativeLocation(location: string, podIp: string, podPort: number): string {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location; // already relative
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return host === podIp && port === podPort ? `${url.pathname}${url.search}${url.hash}` : location;
}

/**
 * A Location on a route that serves the pod under a prefix of the router's path: the pod's own
 * URL, or a path absolute on the pod (`/login`), is the pod's path, so it goes under `prefix`;
 * other sites and relative references pass unchanged.
 */
export function prefixedLocation(location: string, podIp: string, podPort: number, prefix: string): string {
  const local = relativeLocation(location, podIp, podPort);
  return local.startsWith('/') && !local.startsWith('//') ? `${prefix}${local}` : local;
}

/** What a route adds to (or takes from) the client's request headers on their way to the pod. */
export interface ForwardOptions {
  /**
   * Sent to the pod as `authorization`: the pod's agent credential, given only for the agent's
   * legacy port (the client's own Authorization is the router's and never reaches a pod).
   */
  readonly authorization?: string | undefined;
  /** Sent as `x-forwarded-prefix`: the part of the client's path the router consumed. */
  readonly forwardedPrefix?: string;
  /**
   * The client's path is a secret (a preview link's token): the Referer, which a browser fills
   * with the page's own URL, does not reach the pod either.
   */
  readonly dropReferer?: boolean;
}

/** The client's request headers as the pod gets them: the forwardable ones, X-Forwarded-*, the route's. */
export function podRequestHeaders(req: IncomingMessage, opts: ForwardOptions): OutgoingHttpHeaders {
  const headers = forwardableHeaders(req.headers, true);
  headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress]
    .filter(Boolean)
    .join(', ');
  headers['x-forwarded-proto'] = forwardedProto(req);
  if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
  if (opts.authorization !== undefined) headers['authorization'] = opts.authorization;
  if (opts.forwardedPrefix !== undefined) headers['x-forwarded-prefix'] = opts.forwardedPrefix;
  if (opts.dropReferer === true) delete headers['referer'];
  return headers;
}

export interface PodRequestOptions {
  readonly endpoint: Endpoint;
  readonly port: number;
  readonly method: string;
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
  /** Aborts the request (the caller went away, the deadline, shutdown). */
  readonly signal: AbortSignal;
  /** Connect timeout, as upstream's min(timeout, 5 s). */
  readonly connectTimeoutMs: number;
  /** Cap of the pod's status line and headers together (Node's default: 16 KiB). */
  readonly maxResponseHeaderBytes?: number | undefined;
  /** No byte either way on the pod's connection for this long fails the request (RouterError). */
  readonly idleTimeoutMs?: number | undefined;
}

/** A failed request to a pod, as the client should see it. */
export interface PodFailure {
  readonly error: Error;
  /** Set when the pod caused it (it accepted the connection, then broke it): a refusal to count. */
  readonly rejection?: UpstreamRejection;
}

/** A request to a pod's port, under the router's connect and idle timers. */
export interface PodRequest {
  readonly request: ClientRequest;
  /**
   * `error` (from the request's `error` event) sorted: the router's own verdict (the idle
   * timeout) or the abort's reason as they are; a failure after the pod accepted the connection
   * is the pod's (`upstream_failed`), one before is an unreachable pod (`upstream_unavailable`).
   */
  failure(error: Error): PodFailure;
}

export function podRequest(opts: PodRequestOptions): PodRequest {
  const { endpoint, signal } = opts;
  let connected = false;
  const upstream = request({
    host: endpoint.ip,
    port: opts.port,
    method: opts.method,
    path: opts.path,
    headers: opts.headers,
    signal,
    ...(opts.maxResponseHeaderBytes === undefined ? {} : { maxHeaderSize: opts.maxResponseHeaderBytes }),
  });
  const idleMs = opts.idleTimeoutMs;
  if (idleMs !== undefined) {
    upstream.setTimeout(idleMs, () =>
      upstream.destroy(
        new RouterError(
          'deadline_exceeded',
          `the backend sandbox ${endpoint.sandbox} sent and received nothing for ${idleMs} ms (idle timeout)`,
        ),
      ),
    );
  }
  const connectTimer = setTimeout(
    () => upstream.destroy(new Error('connect timeout')),
    opts.connectTimeoutMs,
  );
  const onConnect = (): void => {
    connected = true;
    clearTimeout(connectTimer);
  };
  upstream.on('socket', (socket) => {
    if (!socket.connecting) onConnect();
    else socket.once('connect', onConnect);
  });
  return {
    request: upstream,
    failure(error) {
      clearTimeout(connectTimer);
      if (error instanceof RouterError) return { error };
      if (signal.aborted) return { error: signal.reason instanceof Error ? signal.reason : error };
      if (!connected) {
        return {
          error: new RouterError(
            'upstream_unavailable',
            `Could not connect to the backend sandbox: ${endpoint.sandbox}`,
            { cause: error },
          ),
        };
      }
      return {
        error: new RouterError(
          'upstream_failed',
          `the backend sandbox ${endpoint.sandbox} closed the connection`,
          { cause: error },
        ),
        rejection: failureReason(error),
      };
    },
  };
}

export interface ProxyOptions extends ForwardOptions {
  readonly port: number;
  readonly maxBodyBytes: number;
  /** Connect timeout, as upstream's min(timeout, 5 s). */
  readonly connectTimeoutMs: number;
  readonly log: Logger;
  readonly metrics: RouterMetrics;
  /** The request target sent to the pod (default: the client's own). */
  readonly path?: string;
  /** The router path the pod is served under: its redirects to its own paths go under it. */
  readonly locationPrefix?: string;
  /** Set on the response over the pod's (and the default sandboxing): a route's own policy. */
  readonly responseOverrides?: OutgoingHttpHeaders;
  /** Response headers dropped besides `POD_MAY_NOT_SEND` (a route's own rules). */
  readonly dropResponseHeaders?: ReadonlySet<string>;
  /** Cap of the pod's status line and headers together; past it: 502 (Node's default: 16 KiB). */
  readonly maxResponseHeaderBytes?: number;
  /**
   * No byte either way on the pod's connection for this long ends the request: 504 before the
   * pod answered, a cut response after. A trickling client or pod holds a slot only this long.
   */
  readonly idleTimeoutMs?: number;
  /** Body bytes relayed, as they pass. */
  readonly onBytes?: (direction: 'to_sandbox' | 'from_sandbox', bytes: number) => void;
}

export async function proxyHttp(
  req: Request,
  res: Response,
  scope: Scope,
  endpoint: Endpoint,
  opts: ProxyOptions,
): Promise<void> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > opts.maxBodyBytes) {
    throw new RouterError('payload_too_large', `request body over ${opts.maxBodyBytes} bytes`);
  }
  const sandbox = `${endpoint.namespace}/${endpoint.sandbox}`;

  /** One line and one count per refused or failed pod response; the request alone ends. */
  const refused = (reason: UpstreamRejection, detail: Record<string, unknown>): void => {
    opts.metrics.upstreamRejected.inc({ reason });
    opts.log.warn({ sandbox, port: opts.port, reason, ...detail }, 'upstream response refused');
  };

  await new Promise<void>((resolve, reject) => {
    /**
     * waiting: no final answer yet; forwarding: the pod's status and headers went out;
     * settled: the request failed (a refusal, a dial failure, a body over the limit).
     */
    let state: 'waiting' | 'forwarding' | 'settled' = 'waiting';
    let informational = 0;
    const pod = podRequest({
      endpoint,
      port: opts.port,
      method: req.method,
      path: opts.path ?? req.originalUrl,
      headers: podRequestHeaders(req, opts),
      signal: scope.signal,
      connectTimeoutMs: opts.connectTimeoutMs,
      maxResponseHeaderBytes: opts.maxResponseHeaderBytes,
      idleTimeoutMs: opts.idleTimeoutMs,
    });
    const upstream = pod.request;
    const fail = (error: Error): void => {
      if (state !== 'waiting') return;
      state = 'settled';
      upstream.destroy();
      reject(error);
    };
    /** Before any byte reached the client: the request fails with the router's own 502. */
    const refuse = (reason: UpstreamRejection, detail: string, status?: number): void => {
      if (state !== 'waiting') return;
      refused(reason, { detail, status });
      fail(
        new RouterError(
          'upstream_failed',
          `the backend sandbox ${endpoint.sandbox} sent an invalid response`,
        ),
      );
    };
    /** The pod's response, once its status went out. */
    let forwarded: IncomingMessage | undefined;
    /**
     * After the status went out: only cutting the response is left, unless the pod's message
     * already arrived whole (bytes after it, junk or a reset, are no part of it). Cutting then
     * would drop a complete answer, and with it whatever request the client has already sent on
     * the same connection.
     */
    const cut = (error: unknown): void => {
      if (forwarded?.complete || res.writableEnded) {
        resolve();
        return;
      }
      if (!scope.signal.aborted) {
        refused(failureReason(error), { detail: 'after the response began', err: String(error) });
      }
      res.destroy();
      resolve();
    };
    upstream.on('information', (info: { statusCode: number }) => {
      if (++informational > MAX_INFORMATIONAL) {
        refuse('bad_status', `more than ${MAX_INFORMATIONAL} 1xx answers (last ${info.statusCode})`);
      }
    });
    // 101 to a request that asked for no upgrade: a 1xx as the final answer.
    upstream.on('upgrade', (_up: IncomingMessage, socket: Socket) => {
      socket.destroy();
      refuse('bad_status', 'status 101 without an upgrade');
    });
    upstream.on('error', (error) => {
      if (state === 'forwarding') {
        cut(error);
        return;
      }
      if (state !== 'waiting') return;
      const failure = pod.failure(error);
      if (failure.rejection !== undefined) refused(failure.rejection, { err: String(error) });
      fail(failure.error);
    });
    upstream.on('response', (up) => {
      if (state !== 'waiting') {
        up.destroy();
        return;
      }
      const out = { ...podResponseHeaders(up.headers, opts.dropResponseHeaders), ...opts.responseOverrides };
      if (typeof out.location === 'string') {
        out.location =
          opts.locationPrefix === undefined
            ? relativeLocation(out.location, endpoint.ip, opts.port)
            : prefixedLocation(out.location, endpoint.ip, opts.port, opts.locationPrefix);
      }
      const problem = unforwardable(up.statusCode, out);
      if (problem) {
        refuse(problem.reason, problem.detail, up.statusCode);
        return;
      }
      try {
        res.writeHead(up.statusCode ?? 502, out);
      } catch (error) {
        // Checked above; if Node still refuses, the half-set headers must not reach the error.
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        refuse('bad_header', String(error));
        return;
      }
      state = 'forwarding';
      forwarded = up;
      // The status goes out now, not with the first body byte: a client of a pod that streams
      // slowly (or fails mid-body) sees the pod's answer begin, then end.
      res.flushHeaders();
      res.on('error', () => up.destroy());
      const onBytes = opts.onBytes;
      if (onBytes !== undefined) up.on('data', (chunk: Buffer) => onBytes('from_sandbox', chunk.length));
      up.pipe(res);
      up.on('end', () => resolve());
      up.on('error', cut);
      up.on('close', () => {
        if (!up.complete) res.destroy();
        resolve();
      });
    });
    let sent = 0;
    const counted = (chunk: Buffer): void => {
      sent += chunk.length;
      opts.onBytes?.('to_sandbox', chunk.length);
      if (sent <= opts.maxBodyBytes) return;
      req.off('data', counted);
      req.unpipe(upstream);
      if (state === 'forwarding') {
        upstream.destroy();
        res.destroy();
        resolve();
      } else fail(new RouterError('payload_too_large', `request body over ${opts.maxBodyBytes} bytes`));
    };
    req.on('data', counted);
    req.pipe(upstream);
  });
}
