/**
 * WebSocket (any HTTP upgrade to `websocket`) on the port route and on preview links: admitted
 * like the HTTP form (routes.ts), then the upgrade request is sent to the pod's port with the same
 * header filter, and once the pod switches protocols the two sockets are spliced, bytes as they
 * come (the router does not parse the pod's frames: it is the pod's protocol, end to end).
 *
 * Everything that fails before the pod switched protocols fails as a plain HTTP response with
 * the usual JSON error (401, 403, 404, 502, …). After it, the session ends at its lifetime
 * (ROUTER_WS_MAX_LIFETIME_SECONDS, or X-Sandbox-Timeout), after the port idle timeout without a
 * byte either way, at shutdown, or when either side closes.
 */
import { request } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Admission } from '../admission/admission.js';
import { sessionBudget } from '../admission/budget.js';
import { sentByBrowserPage } from '../auth/index.js';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import { forwardableHeaders, forwardedProto, podResponseHeaders, unforwardable } from '../http/proxy.js';
import type { Endpoint } from '../resolve/index.js';
import { rejectUpgrade } from '../ws/upgrade.js';
import type { PreviewOptions } from './routes.js';
import {
  PORT_ROUTE_TEMPLATE,
  PATH_ROUTE_DROPPED,
  PREVIEW_ROUTE_TEMPLATE,
  checkPreview,
  previewContext,
  previewTarget,
  statusClass,
} from './routes.js';
import { PORT_ROUTE, PREVIEW_ROUTE, checkPortAccess, portRouteTarget, previewRouteTarget } from './target.js';

/** The pod's 101 headers the client needs to finish its handshake; the rest pass the usual filter. */
const HANDSHAKE = ['sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions'] as const;

export interface PortUpgradeHandler {
  /** Whether `url` is the port route's or a preview link's (the exec upgrade handles the rest). */
  matches(url: string): boolean;
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

interface Tunnel {
  readonly endpoint: Endpoint;
  readonly port: number;
  readonly path: string;
  readonly prefix: string;
  readonly viaLink: boolean;
}

export function portUpgradeHandler(ctx: RouterContext, previews: PreviewOptions): PortUpgradeHandler {
  const previewCtx = previewContext(ctx, previews);
  const open = new Set<Duplex>();

  /** Sends the upgrade to the pod; resolves with its socket once it switched protocols. */
  const dial = (
    req: IncomingMessage,
    tunnel: Tunnel,
    signal: AbortSignal,
    deadline: number,
  ): Promise<{ upstream: Socket; head: Buffer; headers: OutgoingHttpHeaders }> => {
    const headers = forwardableHeaders(req.headers, true);
    headers['connection'] = 'Upgrade';
    headers['upgrade'] = 'websocket';
    headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress]
      .filter(Boolean)
      .join(', ');
    headers['x-forwarded-proto'] = forwardedProto(req);
    // A link's prefix is its token: the sandbox learns neither (nor the Referer carrying it).
    if (tunnel.viaLink) delete headers['referer'];
    else headers['x-forwarded-prefix'] = tunnel.prefix;
    if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
    const { endpoint, port } = tunnel;
    return new Promise((resolve, reject) => {
      let connected = false;
      const upstream = request({
        host: endpoint.ip,
        port,
        method: 'GET',
        path: tunnel.path,
        headers,
        signal,
        maxHeaderSize: ctx.limits.portMaxResponseHeaderBytes,
      });
      const connectTimer = setTimeout(
        () => {
          if (!connected) upstream.destroy(new Error('connect timeout'));
        },
        Math.min(5_000, Math.max(1, deadline - Date.now())),
      );
      // The pod must answer the upgrade within the idle timeout, as any request on this route.
      upstream.setTimeout(ctx.limits.portIdleTimeoutMs, () =>
        upstream.destroy(
          new RouterError(
            'deadline_exceeded',
            `the backend sandbox ${endpoint.sandbox} did not answer the upgrade within ${ctx.limits.portIdleTimeoutMs} ms (idle timeout)`,
          ),
        ),
      );
      upstream.on('socket', (s) => {
        if (!s.connecting) connected = true;
        else s.once('connect', () => (connected = true));
      });
      upstream.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
        clearTimeout(connectTimer);
        const out = podResponseHeaders(res.headers, PATH_ROUTE_DROPPED);
        for (const name of HANDSHAKE) {
          const value = res.headers[name];
          if (value !== undefined) out[name] = value;
        }
        const refused = unforwardable(200, out);
        if (refused !== undefined || (res.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
          socket.destroy();
          ctx.metrics.upstreamRejected.inc({ reason: refused?.reason ?? 'bad_header' });
          reject(
            new RouterError(
              'upstream_failed',
              `the backend sandbox ${endpoint.sandbox} sent an invalid upgrade`,
            ),
          );
          return;
        }
        resolve({ upstream: socket, head, headers: out });
      });
      upstream.on('response', (res) => {
        clearTimeout(connectTimer);
        res.resume();
        reject(
          new RouterError(
            'upstream_failed',
            `port ${port} of sandbox ${endpoint.sandbox} answered the upgrade with ${String(res.statusCode)}, not 101`,
          ),
        );
      });
      upstream.on('error', (error) => {
        clearTimeout(connectTimer);
        if (error instanceof RouterError) reject(error);
        else if (signal.aborted) reject(signal.reason instanceof Error ? signal.reason : error);
        else if (connected) {
          reject(
            new RouterError(
              'upstream_failed',
              `the backend sandbox ${endpoint.sandbox} closed the connection`,
              {
                cause: error,
              },
            ),
          );
        } else {
          reject(
            new RouterError(
              'upstream_unavailable',
              `Could not connect to the backend sandbox: ${endpoint.sandbox}`,
              {
                cause: error,
              },
            ),
          );
        }
      });
      upstream.end();
    });
  };

  /** Relays bytes both ways until either side closes, goes idle, or `signal` ends the session. */
  const splice = async (client: Duplex, upstream: Socket, signal: AbortSignal): Promise<void> => {
    open.add(client);
    open.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    // Either side closing (even before this ran) ends both; the session ends when both have.
    const closed = (s: Duplex): Promise<void> =>
      s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));
    const done = Promise.all([closed(client), closed(upstream)]);
    Promise.race([closed(client), closed(upstream)]).then(end, end);
    const idle = ctx.limits.portIdleTimeoutMs;
    upstream.setTimeout(idle, end);
    if (client instanceof Socket) client.setTimeout(idle, end);
    client.on('data', (chunk: Buffer) =>
      ctx.metrics.portBytes.inc({ direction: 'to_sandbox' }, chunk.length),
    );
    upstream.on('data', (chunk: Buffer) =>
      ctx.metrics.portBytes.inc({ direction: 'from_sandbox' }, chunk.length),
    );
    client.on('error', end);
    upstream.on('error', end);
    signal.addEventListener('abort', end, { once: true });
    if (signal.aborted) end();
    client.pipe(upstream);
    upstream.pipe(client);
    try {
      await done;
    } finally {
      open.delete(client);
      open.delete(upstream);
      signal.removeEventListener('abort', end);
    }
  };

  const handle = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const url = req.url ?? '';
    const viaLink = PREVIEW_ROUTE.test(url);
    await using admission = new Admission(viaLink ? previewCtx : ctx, {
      surface: 'proxy',
      route: viaLink ? PREVIEW_ROUTE_TEMPLATE : PORT_ROUTE_TEMPLATE,
      spanName: viaLink ? 'WS preview' : 'WS ports',
      carrier: req.headers,
      remoteAddress: req.socket.remoteAddress ?? 'unknown',
      viaPortForward: ctx.viaPortForward(req.socket),
      fromBrowser: sentByBrowserPage(req.headers),
    });
    socket.on('error', () => undefined);
    let spliced = false;
    let status = 101;
    try {
      if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
        throw new RouterError('invalid_argument', 'upgrade: only websocket upgrades are proxied');
      }
      const link = viaLink ? previewRouteTarget(url) : undefined;
      const scope = await admission.admit({
        target: () => {
          if (viaLink) return previewTarget(previews, link?.token ?? '');
          const parsed = portRouteTarget(url);
          if (parsed === undefined) throw new RouterError('not_found', 'no such port route');
          return { ...parsed.target, claimUid: '' };
        },
        budget: () => sessionBudget(req.headers['x-sandbox-timeout'], ctx.limits.wsMaxLifetimeMs),
        authorization: viaLink ? link?.token : req.headers.authorization,
      });
      const endpoint = scope.resolve();
      if (viaLink) checkPreview(endpoint, scope.target, ctx);
      else checkPortAccess(endpoint, scope.target, ctx.agentPorts);
      const where = viaLink ? link : portRouteTarget(url);
      if (where === undefined) throw new RouterError('internal', 'the port route lost its target');
      const dialled = await dial(
        req,
        { endpoint, port: scope.target.port, path: where.path, prefix: where.prefix, viaLink },
        scope.signal,
        scope.deadline,
      );
      if (socket.destroyed) {
        dialled.upstream.destroy();
        throw new RouterError('canceled', 'the client went away');
      }
      const lines = ['HTTP/1.1 101 Switching Protocols', 'connection: Upgrade', 'upgrade: websocket'];
      for (const [name, value] of Object.entries(dialled.headers)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(v)}`);
      }
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (dialled.head.length > 0) socket.write(dialled.head);
      if (head.length > 0) dialled.upstream.write(head);
      spliced = true;
      await splice(socket, dialled.upstream, scope.signal);
    } catch (thrown) {
      const error = admission.fail(thrown);
      if (spliced) socket.destroy();
      else {
        status = error.httpStatus;
        if (!socket.destroyed) rejectUpgrade(socket, error);
      }
    } finally {
      ctx.metrics.portRequests.inc({ kind: 'websocket', status: statusClass(status) });
    }
  };

  return {
    matches: (url) => PORT_ROUTE.test(url) || PREVIEW_ROUTE.test(url),
    handle(req, socket, head) {
      handle(req, socket, head).catch((err: unknown) => {
        ctx.log.error({ err }, 'port upgrade failed');
        socket.destroy();
      });
    },
    close() {
      for (const s of open) s.destroy();
      open.clear();
    },
  };
}
