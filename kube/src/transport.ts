/**
 * HTTP to the API server on Node's own http/https with keep-alive agents. @kubernetes/client-node
 * is used for what it is good at — reading kubeconfigs, in-cluster config and auth providers —
 * but not for requests: its request path re-reads certificate files and builds a new agent (a
 * new TLS handshake) per call, which alone would eat the claim hot path's budget of ~4 ms per
 * write. Here the TLS material is read once, connections are reused, and the auth headers are
 * refreshed on a timer and on 401.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeError, isKubeError, kubeErrorFromResponse, toKubeError } from './errors.js';
import type { HttpCall, RawResponse } from './http.js';
import { StaleSocketError, exchange, queryString, streamLines } from './http.js';

export type QueryValue = string | number | boolean | undefined;
export type Query = Readonly<Record<string, QueryValue>>;

export interface RequestOptions {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the server URL, e.g. `/api/v1/namespaces/ns/pods/p`. */
  readonly path: string;
  readonly query?: Query;
  /** Serialized as JSON. */
  readonly body?: unknown;
  /** Default `application/json`. */
  readonly contentType?: string;
  /** Overrides the transport's request timeout. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface WatchEvent {
  readonly type: string;
  readonly object: unknown;
}

export interface WatchOptions {
  readonly path: string;
  readonly query: Query;
  /** Aborting ends the stream; `watch()` then resolves. */
  readonly signal: AbortSignal;
  /**
   * Client-side deadline for the whole stream (set it a little above the server's
   * `timeoutSeconds`): a half-open connection that never delivers its end is cut here.
   */
  readonly deadlineMs: number;
  /** Called synchronously per event, in order. If it throws, the watch rejects with that error. */
  onEvent(event: WatchEvent): void;
}

export interface KubeTransport {
  /** Resolves with the parsed JSON body of a 2xx response; throws `KubeError` otherwise. */
  request<T>(opts: RequestOptions): Promise<T>;
  /** Streams a watch; resolves when the server ends it or `signal` aborts, rejects with `KubeError`. */
  watch(opts: WatchOptions): Promise<void>;
  /** Closes idle connections; later calls fail. */
  close(): void;
}

export interface TransportOptions {
  /**
   * Per-request timeout. 15 s: a write normally takes milliseconds and the API server gives up on
   * its own after 60 s; a worker blocked longer than this is better spent retrying with backoff.
   * Too small fails writes under legitimate load (large lists go through `timeoutMs` per call).
   */
  readonly timeoutMs?: number;
  /**
   * Concurrent connections for requests (watches have their own pool). Bounded by the workers
   * writing at once; 64 leaves room for every controller's workers without letting a runaway
   * loop open hundreds of TLS sessions.
   */
  readonly maxSockets?: number;
  /**
   * How often auth headers are rebuilt from the kubeconfig (bound service-account tokens are
   * rotated on disk; exec plugins issue short-lived tokens). client-go re-reads the token file
   * every minute; a 401 also forces a rebuild.
   */
  readonly authRefreshMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_SOCKETS = 64;
const DEFAULT_AUTH_REFRESH_MS = 60_000;
// The controller and the router share this transport; audit logs tell them apart by service account.
const USER_AGENT = 'sandbank';
/**
 * Idle kept-alive sockets are closed after 30 s, well before the API server's own idle timeout
 * (90 s): otherwise a request can be written to a socket the server is closing at that moment,
 * which fails with ECONNRESET — retried for idempotent requests, but not for a POST. Shorter
 * costs more TLS handshakes after quiet periods.
 */
const IDLE_SOCKET_TIMEOUT_MS = 30_000;

interface Connection {
  readonly server: URL;
  readonly basePath: string;
  readonly requestAgent: http.Agent;
  readonly watchAgent: http.Agent;
}

interface Auth {
  readonly headers: Readonly<Record<string, string>>;
  readonly basicAuth: string | undefined;
}

const shared = new WeakMap<KubeConfig, KubeTransport>();

/** One transport per KubeConfig object, so a client and its informers share connections. */
export function transportFor(kc: KubeConfig): KubeTransport {
  let t = shared.get(kc);
  if (t === undefined) {
    t = createTransport(kc);
    shared.set(kc, t);
  }
  return t;
}

export function createTransport(kc: KubeConfig, opts: TransportOptions = {}): KubeTransport {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const authRefreshMs = opts.authRefreshMs ?? DEFAULT_AUTH_REFRESH_MS;
  let connection: Promise<Connection> | undefined;
  let auth: Promise<Auth> | undefined;
  let closed = false;

  const connect = (): Promise<Connection> => {
    if (connection === undefined) {
      const opening = openConnection(kc, opts.maxSockets ?? DEFAULT_MAX_SOCKETS);
      // A failed setup (bad kubeconfig) is retried on the next call rather than cached forever.
      opening.catch(() => {
        if (connection === opening) connection = undefined;
      });
      connection = opening;
    }
    return connection;
  };
  let authReadAt = 0;
  const authenticate = (force: boolean): Promise<Auth> => {
    // Decided synchronously, so a burst of requests at refresh time triggers one read.
    if (auth === undefined || force || Date.now() - authReadAt >= authRefreshMs) {
      authReadAt = Date.now();
      const reading = readAuth(kc);
      reading.catch(() => {
        if (auth === reading) auth = undefined;
      });
      auth = reading;
    }
    return auth;
  };

  const send = (
    conn: Connection,
    a: Auth,
    req: RequestOptions,
    body: Buffer | undefined,
  ): Promise<RawResponse> => {
    const headers: Record<string, string> = {
      ...a.headers,
      accept: 'application/json',
      'user-agent': USER_AGENT,
    };
    if (body !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(body.length);
    }
    const call: HttpCall = {
      method: req.method,
      path: conn.basePath + req.path + queryString(req.query),
      headers,
      basicAuth: a.basicAuth,
      body,
    };
    return exchange(
      { server: conn.server, agent: conn.requestAgent },
      call,
      req.timeoutMs ?? timeoutMs,
      req.signal,
    );
  };

  return {
    async request<T>(req: RequestOptions): Promise<T> {
      if (closed) throw new KubeError('Unavailable', 0, 'kube transport is closed');
      const what = `${req.method} ${req.path}`;
      const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
      let res: RawResponse;
      try {
        const conn = await connect();
        let a = await authenticate(false);
        try {
          res = await send(conn, a, req, body);
        } catch (err) {
          // A kept-alive socket the server closed just as we wrote to it: the request never
          // reached the server, so sending it again is safe — except a POST, where "never
          // reached" cannot be proven and a generateName create would duplicate.
          if (!(err instanceof StaleSocketError) || req.method === 'POST') throw err;
          res = await send(conn, a, req, body);
        }
        if (res.status === 401) {
          a = await authenticate(true);
          res = await send(conn, a, req, body);
        }
      } catch (err) {
        throw toKubeError(err, what);
      }
      if (res.status < 200 || res.status >= 300) throw kubeErrorFromResponse(res.status, res.body, what);
      try {
        return (res.body === '' ? {} : JSON.parse(res.body)) as T;
      } catch (err) {
        throw new KubeError('Other', res.status, `${what}: response is not JSON`, undefined, { cause: err });
      }
    },

    async watch(w: WatchOptions): Promise<void> {
      if (closed) throw new KubeError('Unavailable', 0, 'kube transport is closed');
      try {
        const conn = await connect();
        const a = await authenticate(false);
        const call: HttpCall = {
          method: 'GET',
          path: conn.basePath + w.path + queryString({ ...w.query, watch: 'true' }),
          headers: { ...a.headers, accept: 'application/json', 'user-agent': USER_AGENT },
          basicAuth: a.basicAuth,
          body: undefined,
        };
        await streamLines(
          { server: conn.server, agent: conn.watchAgent },
          call,
          w.deadlineMs,
          w.signal,
          (line) => w.onEvent(JSON.parse(line) as WatchEvent),
        );
      } catch (err) {
        const e = toKubeError(err, `WATCH ${w.path}`);
        // Expired credentials: read them again before the informer's next attempt.
        if (isKubeError(e) && e.status === 401) authReadAt = 0;
        throw e;
      }
    },

    close() {
      closed = true;
      connection?.then(
        (c) => {
          c.requestAgent.destroy();
          c.watchAgent.destroy();
        },
        () => undefined,
      );
    },
  };
}

async function openConnection(kc: KubeConfig, maxSockets: number): Promise<Connection> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeError('Other', 0, 'kubeconfig has no current cluster');
  const server = new URL(cluster.server);
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const basePath = server.pathname.replace(/\/+$/, '');
  if (cluster.proxyUrl) {
    // Proxy agents come from client-node; they are rare for a controller and not worth
    // re-implementing. Requests through them do not get our keep-alive tuning.
    const agent = opts.agent instanceof http.Agent ? opts.agent : new http.Agent();
    return { server, basePath, requestAgent: agent, watchAgent: agent };
  }
  if (server.protocol === 'http:') {
    return {
      server,
      basePath,
      requestAgent: new http.Agent({ keepAlive: true, maxSockets, timeout: IDLE_SOCKET_TIMEOUT_MS }),
      watchAgent: new http.Agent({ keepAlive: true }),
    };
  }
  const tls: https.AgentOptions = { keepAlive: true };
  if (opts.ca !== undefined) tls.ca = opts.ca;
  if (opts.cert !== undefined) tls.cert = opts.cert;
  if (opts.key !== undefined) tls.key = opts.key;
  if (opts.pfx !== undefined) tls.pfx = opts.pfx;
  if (opts.passphrase !== undefined) tls.passphrase = opts.passphrase;
  if (opts.rejectUnauthorized !== undefined) tls.rejectUnauthorized = opts.rejectUnauthorized;
  if (opts.servername !== undefined) tls.servername = opts.servername;
  return {
    server,
    basePath,
    requestAgent: new https.Agent({ ...tls, maxSockets, timeout: IDLE_SOCKET_TIMEOUT_MS }),
    watchAgent: new https.Agent(tls),
  };
}

async function readAuth(kc: KubeConfig): Promise<Auth> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  // applyToHTTPSOptions also builds an agent we do not use; drop its (unused) pool.
  if (opts.agent instanceof http.Agent) opts.agent.destroy();
  const headers: Record<string, string> = {};
  if (opts.headers && !Array.isArray(opts.headers)) {
    for (const [k, v] of Object.entries(opts.headers)) {
      if (typeof v === 'string') headers[k] = v;
      else if (typeof v === 'number') headers[k] = String(v);
    }
  }
  return { headers, basicAuth: typeof opts.auth === 'string' ? opts.auth : undefined };
}
