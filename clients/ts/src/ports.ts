/**
 * `sandbox.ports`: a sandbox's own servers through the router's port route,
 * `/v1/namespaces/{ns}/sandboxclaims/{claim}/ports/{port}/{path}` (the ports its template declares,
 * or any with `sandbank.dev/expose-any-port`), and signed preview links a browser opens without the
 * token until they expire. The sandbox's answers come back as they are (its own 404 is a response);
 * the router's refusals (a port not declared, nothing listening) are its typed errors.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { RouterConnection, SandboxTarget } from './connection.js';
import { claimPath } from './http/paths.js';
import { callJson, send } from './http/request.js';
import type { CallOptions, RequestBody } from './http/request.js';

const PreviewSchema = z.object({
  url: z.string().startsWith('/v1/previews/'),
  token: z.string().min(1),
  port: z.int(),
  expiresAt: z.iso.datetime({ offset: true }),
});

/** A signed link that opens one port of one claim without the API token, until `expiresAt`. */
export interface PreviewLink {
  /** Absolute: the router's origin and the link's path. */
  readonly url: string;
  readonly token: string;
  readonly port: number;
  readonly expiresAt: Date;
}

export interface PortRequestOptions extends CallOptions {
  readonly method?: string;
  /** The path (and query) the sandbox gets; starts with '/'. */
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: RequestBody;
}

/** Methods that have no effect, so they are resent after a failure on the way (RFC 9110 safe methods). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Statuses whose response has no body (a web Response refuses one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new TypeError(`port: must be an integer from 1 to 65535, got ${port}`);
  return port;
}

/** `sandbox.ports`: the sandbox's own servers through the router, and preview links to them. */
export class Ports {
  constructor(
    private readonly conn: RouterConnection,
    private readonly target: SandboxTarget,
  ) {}

  private routePath(port: number, path: string): string {
    if (!path.startsWith('/')) throw new TypeError(`path: must start with '/', got ${path.slice(0, 80)}`);
    return claimPath(this.target, `/ports/${checkPort(port)}${path}`);
  }

  /**
   * The port route's URL of `port` and `path` (with any query), for a caller that sends the router's
   * `Authorization` itself; a browser wants `preview` instead.
   */
  url(port: number, path = '/'): string {
    // Joined, not resolved: the sandbox gets `path` as written (dot segments included).
    return `${this.conn.origin.origin}${this.routePath(port, path)}`;
  }

  /**
   * Sends a request to `port` in the sandbox with this connection's credentials, and returns the
   * sandbox's response (any status) with its body still streaming.
   */
  async request(port: number, options: PortRequestOptions = {}): Promise<Response> {
    const method = (options.method ?? 'GET').toUpperCase();
    const { path = '/', headers, body, ...call } = options;
    const res = await send(this.conn, {
      ...call,
      method,
      path: this.routePath(port, path),
      ...(headers ? { headers } : {}),
      ...(body === undefined ? {} : { body }),
      idempotent: SAFE_METHODS.has(method),
      sandboxAnswers: true,
      // The sandbox's app answers when it does; the router's idle timeout bounds it.
      headersWithinMs: 'unbounded',
    });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value])
        responseHeaders.append(name, one);
    }
    const empty = method === 'HEAD' || NULL_BODY_STATUSES.has(res.status);
    if (empty) res.close();
    return new Response(empty ? null : Readable.toWeb(res.body), {
      status: res.status,
      statusText: res.body.statusMessage ?? '',
      headers: responseHeaders,
    });
  }

  /** Mints a signed link to `port` (the router's default lifetime 900 s, at most its maximum). */
  async preview(port: number, options: CallOptions & { ttlSeconds?: number } = {}): Promise<PreviewLink> {
    const { ttlSeconds, ...call } = options;
    if (ttlSeconds !== undefined && (!Number.isInteger(ttlSeconds) || ttlSeconds < 1))
      throw new TypeError(`ttlSeconds: must be a positive integer, got ${ttlSeconds}`);
    const json = { port: checkPort(port), ...(ttlSeconds === undefined ? {} : { ttlSeconds }) };
    const link = await callJson(
      this.conn,
      { ...call, method: 'POST', path: claimPath(this.target, '/previews'), json, idempotent: false },
      PreviewSchema,
      'preview',
    );
    return {
      url: `${this.conn.origin.origin}${link.url}`,
      token: link.token,
      port: link.port,
      expiresAt: new Date(link.expiresAt),
    };
  }
}
