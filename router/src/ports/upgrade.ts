/**
 * WebSocket (any HTTP upgrade to `websocket`) on the port route and on preview links: admitted
 * like the HTTP form (port-admission.ts), then the upgrade request is sent to the pod's port
 * with the same header filter (http/proxy.ts), and once the pod switches protocols the two
 * sockets are spliced, bytes as they come (the router does not parse the pod's frames: it is the
 * pod's protocol, end to end).
 *
 * The pod's switch is checked before the client sees it: an upgrade to `websocket` whose
 * `Sec-WebSocket-Accept` answers the client's key, headers within the port route's cap. Anything
 * else, or no answer within the idle timeout, fails as a plain HTTP response with the usual JSON
 * error (401, 403, 404, 502, 504, …), as does everything else before the switch. After it, the
 * session ends at its lifetime (ROUTER_WS_MAX_LIFETIME_SECONDS, or X-Sandbox-Timeout), after the
 * port idle timeout without a byte either way, at shutdown, or when either side closes; a side
 * that stops reading pauses the other (the splice's backpressure), so no buffer grows.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Admission } from '../admission/admission.js';
import type { Scope } from '../admission/admission.js';
import { sessionBudget } from '../admission/budget.js';
import { sentByBrowserPage } from '../auth/index.js';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import { podRequest, podRequestHeaders, podResponseHeaders, unforwardable } from '../http/proxy.js';
import type { ForwardOptions } from '../http/proxy.js';
import type { UpstreamRejection } from '../observability/metrics.js';
import type { Endpoint } from '../resolve/index.js';
import { rejectUpgrade } from '../ws/upgrade.js';
import { portAdmission } from './port-admission.js';
import type { PreviewOptions } from './port-admission.js';
import { PATH_ROUTE_DROPPED, statusClass } from './routes.js';
import { checkPortAccess, matchPortRoute, type PortRouteMatch } from './target.js';
import type { RoutedPort } from './target.js';

/** The pod's 101 headers the client needs to finish its handshake; the rest pass the usual filter. */
const HANDSHAKE = ['sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions'] as const;

/** RFC 6455 §1.3: the accept value is the SHA-1 of the client's key and this GUID, base64. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The `Sec-WebSocket-Accept` that answers the client's `Sec-WebSocket-Key`. */
const acceptFor = (key: string): string =>
  createHash('sha1')
    .update(key + WEBSOCKET_GUID)
    .digest('base64');

export interface PortUpgradeHandler {
  /**
   * Takes the upgrade when its URL is the port route's or a preview link's (matched once, here);
   * false for any other, which the exec upgrade handles.
   */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  close(): void;
}

export function portUpgradeHandler(ctx: RouterContext, previews: PreviewOptions): PortUpgradeHandler {
  const open = new Set<Duplex>();

  /** Why the pod's switch may not reach the client, or undefined when it may. */
  const badSwitch = (
    res: IncomingMessage,
    key: string,
    out: OutgoingHttpHeaders,
  ): { reason: UpstreamRejection; detail: string } | undefined => {
    if ((res.headers.upgrade ?? '').toLowerCase() !== 'websocket')
      return { reason: 'not_websocket', detail: 'an upgrade to another protocol' };
    // The client would refuse the handshake anyway; refused here, the client gets the router's
    // error rather than a tunnel to nowhere.
    if (res.headers['sec-websocket-accept'] !== acceptFor(key))
      return { reason: 'bad_accept', detail: 'a Sec-WebSocket-Accept not for the key' };
    return unforwardable(200, out);
  };

  /** Sends the upgrade to the pod; resolves with its socket once it switched protocols. */
  const dial = (
    req: IncomingMessage,
    key: string,
    endpoint: Endpoint,
    scope: Scope<RoutedPort>,
    forwarding: ForwardOptions,
  ): Promise<{ upstream: Socket; head: Buffer; headers: OutgoingHttpHeaders }> => {
    const { target } = scope;
    const headers = podRequestHeaders(req, forwarding);
    headers['connection'] = 'Upgrade';
    headers['upgrade'] = 'websocket';
    const pod = podRequest({
      endpoint,
      port: target.port,
      method: 'GET',
      path: target.path,
      headers,
      signal: scope.signal,
      connectTimeoutMs: Math.min(5_000, Math.max(1, scope.deadline - Date.now())),
      maxResponseHeaderBytes: ctx.limits.portMaxResponseHeaderBytes,
      // The pod must answer the upgrade within the idle timeout, as any request on this route.
      idleTimeoutMs: ctx.limits.portIdleTimeoutMs,
    });
    const upstream = pod.request;
    return new Promise((resolve, reject) => {
      upstream.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
        const out = podResponseHeaders(res.headers, PATH_ROUTE_DROPPED);
        for (const name of HANDSHAKE) {
          const value = res.headers[name];
          if (value !== undefined) out[name] = value;
        }
        const bad = badSwitch(res, key, out);
        if (bad === undefined) {
          resolve({ upstream: socket, head, headers: out });
          return;
        }
        socket.destroy();
        ctx.metrics.upstreamRejected.inc({ reason: bad.reason });
        ctx.log.warn(
          { sandbox: endpoint.sandbox, port: target.port, reason: bad.reason, detail: bad.detail },
          'upstream upgrade refused',
        );
        reject(
          new RouterError(
            'upstream_failed',
            `the backend sandbox ${endpoint.sandbox} sent an invalid upgrade`,
          ),
        );
      });
      upstream.on('response', (res) => {
        // No switch: this connection is done (never back to the agent's pool, where its socket
        // would stay open on the pod's word).
        upstream.destroy();
        reject(
          new RouterError(
            'upstream_failed',
            `port ${target.port} of sandbox ${endpoint.sandbox} answered the upgrade with ${String(res.statusCode)}, not 101`,
          ),
        );
      });
      upstream.on('error', (error) => {
        const failure = pod.failure(error);
        if (failure.rejection !== undefined) ctx.metrics.upstreamRejected.inc({ reason: failure.rejection });
        reject(failure.error);
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

  const handle = async (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    match: PortRouteMatch,
  ): Promise<void> => {
    const admitted = portAdmission(ctx, previews, match, req.headers.authorization);
    await using admission = new Admission(admitted.ctx, {
      surface: 'proxy',
      route: admitted.route,
      spanName: admitted.viaLink ? 'WS preview' : 'WS ports',
      carrier: req.headers,
      remoteAddress: req.socket.remoteAddress ?? 'unknown',
      viaPortForward: ctx.viaPortForward(req.socket),
      fromBrowser: sentByBrowserPage(req.headers),
    });
    socket.on('error', () => undefined);
    // A client gone before the tunnel opens ends the dial now, not at the pod's idle timeout. Node
    // leaves an upgraded socket unread, and an unread socket learns of its peer's FIN only when
    // it next writes: until the splice, it is read into its stream buffer (bounded by its
    // highWaterMark, and relayed once the tunnel opens), so that the end or the close is seen.
    // On a refusal the reader stays: the half-closed socket then sees the client's close too.
    const gone = (): void => admission.abort(new RouterError('canceled', 'the client went away'));
    const noticeEnd = (): void => {
      // read() with nothing buffered takes nothing, but emits 'end' once the client's FIN came.
      if (socket.readableLength === 0) socket.read();
    };
    socket.on('readable', noticeEnd);
    socket.once('end', gone);
    socket.once('close', gone);
    let spliced = false;
    let status = 101;
    try {
      if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
        throw new RouterError('invalid_argument', 'upgrade: only websocket upgrades are proxied');
      }
      const key = req.headers['sec-websocket-key'];
      if (key === undefined || key === '') {
        throw new RouterError('invalid_argument', 'sec-websocket-key: required for a websocket upgrade');
      }
      const scope = await admission.admit({
        target: admitted.target,
        budget: () => sessionBudget(req.headers['x-sandbox-timeout'], ctx.limits.wsMaxLifetimeMs),
        authorization: admitted.authorization,
      });
      const endpoint = scope.resolve();
      checkPortAccess(endpoint, scope.target, ctx.agentPorts);
      const dialled = await dial(req, key, endpoint, scope, admitted.forwarding(scope.target));
      socket.off('readable', noticeEnd);
      socket.off('end', gone);
      socket.off('close', gone);
      if (socket.destroyed || socket.readableEnded) {
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
    handle(req, socket, head) {
      const match = matchPortRoute(req.url ?? '');
      if (match === undefined) return false;
      handle(req, socket, head, match).catch((err: unknown) => {
        ctx.log.error({ err }, 'port upgrade failed');
        socket.destroy();
      });
      return true;
    },
    close() {
      for (const s of open) s.destroy();
      open.clear();
    },
  };
}
