/**
 * The HTTP upgrade to a WebSocket exec session. Everything that can fail before the session
 * (path, auth, the per-caller limit, resolution, the dial to the agent) fails as a plain HTTP
 * response with the usual JSON error, so a client sees 401/403/404/429/502 rather than an opened
 * and immediately closed socket.
 */
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import { TimeoutHeader, v1TargetFromPath } from './path.js';
import { EXEC_SUBPROTOCOL } from './frames.js';
import { runExecTunnel } from './exec-tunnel.js';
import { extractContext, tracer } from '../observability/tracing.js';

function rejectUpgrade(socket: Duplex, error: RouterError): void {
  const body = JSON.stringify(error.toJSON());
  const head = [
    `HTTP/1.1 ${error.httpStatus} ${STATUS_CODES[error.httpStatus] ?? 'Error'}`,
    'connection: close',
    'content-type: application/json',
    `content-length: ${Buffer.byteLength(body)}`,
    `x-sandbank-error-code: ${error.code}`,
    ...(error.retryAfterSeconds === undefined ? [] : [`retry-after: ${error.retryAfterSeconds}`]),
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

export interface UpgradeHandler {
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

export function execUpgradeHandler(ctx: RouterContext): UpgradeHandler {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: ctx.limits.wsMaxMessageBytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(EXEC_SUBPROTOCOL) ? EXEC_SUBPROTOCOL : false),
  });

  const handle = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const started = process.hrtime.bigint();
    const controller = new AbortController();
    const untrack = ctx.tracker.add(controller);
    let release: (() => void) | undefined;
    let leaseRelease: (() => void) | undefined;
    let code = 'ok';
    socket.on('error', () => undefined);
    try {
      if (ctx.tracker.draining) throw new RouterError('shutting_down', 'the router is shutting down; retry');
      const target = v1TargetFromPath(req.url ?? '');
      if (!TimeoutHeader.safeParse(req.headers['x-sandbox-timeout']).success) {
        throw new RouterError('invalid_argument', 'X-Sandbox-Timeout: must be a positive number of seconds');
      }
      const principal = await ctx.auth.authorize(
        { authorization: req.headers.authorization, remoteAddress: req.socket.remoteAddress ?? 'unknown' },
        target,
      );
      release = ctx.limiter.acquire(principal.callerKey).release;
      const { lease } = await ctx.gateway.connect(target, controller.signal);
      leaseRelease = lease.release;
      const span = tracer.startSpan('WS exec', {}, extractContext(req.headers));
      const metadata = ctx.gateway.metadata(extractContext(req.headers), span);
      const ws = await new Promise<WebSocket>((resolve) => wss.handleUpgrade(req, socket, head, resolve));
      ctx.metrics.wsSessions.inc();
      try {
        await runExecTunnel({
          ws,
          client: lease.client,
          metadata,
          idleTimeoutMs: ctx.limits.wsIdleTimeoutMs,
          maxLifetimeMs: ctx.limits.wsMaxLifetimeMs,
          log: ctx.log,
          metrics: ctx.metrics,
          signal: controller.signal,
        });
      } finally {
        ctx.metrics.wsSessions.dec();
        span.end();
      }
    } catch (thrown) {
      const error = RouterError.from(thrown);
      code = error.code;
      if (error.code === 'internal') ctx.log.error({ err: error.cause }, 'websocket upgrade failed');
      if (!socket.destroyed) rejectUpgrade(socket, error);
    } finally {
      leaseRelease?.();
      release?.();
      untrack();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      ctx.metrics.requests.inc({ surface: 'ws', route: 'exec', code });
      ctx.metrics.duration.observe({ surface: 'ws', route: 'exec' }, seconds);
    }
  };

  return {
    handle(req, socket, head) {
      // handle() answers every failure itself; this only guards against a bug in that path.
      handle(req, socket, head).catch((err: unknown) => {
        ctx.log.error({ err }, 'websocket upgrade failed');
        socket.destroy();
      });
    },
    close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}
