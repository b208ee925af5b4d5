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
import { Admission } from '../admission/admission.js';
import { sessionBudget } from '../admission/budget.js';
import { sentByBrowserPage } from '../auth/index.js';
import type { RouterContext } from '../context.js';
import type { RouterError } from '../errors.js';
import { EXEC_SUBPROTOCOL } from './frames.js';
import { runExecTunnel } from './exec-tunnel.js';
import { v1TargetFromPath } from './path.js';

export function rejectUpgrade(socket: Duplex, error: RouterError): void {
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
    await using admission = new Admission(ctx, {
      surface: 'ws',
      route: 'exec',
      spanName: 'WS exec',
      carrier: req.headers,
      remoteAddress: req.socket.remoteAddress ?? 'unknown',
      viaPortForward: ctx.viaPortForward(req.socket),
      fromBrowser: sentByBrowserPage(req.headers),
    });
    socket.on('error', () => undefined);
    try {
      const scope = await admission.admit({
        target: () => v1TargetFromPath(req.url ?? ''),
        budget: () => sessionBudget(req.headers['x-sandbox-timeout'], ctx.limits.wsMaxLifetimeMs),
        authorization: req.headers.authorization,
      });
      const { agent, options, endpoint } = await scope.connect();
      const ws = await new Promise<WebSocket>((resolve) => wss.handleUpgrade(req, socket, head, resolve));
      ctx.metrics.wsSessions.inc();
      try {
        await runExecTunnel({
          ws,
          agent,
          options,
          end: (reason) => admission.abort(reason),
          explainBroken: (error) => ctx.gateway.explainBroken(endpoint, error, options.signal),
          idleTimeoutMs: ctx.limits.wsIdleTimeoutMs,
          startTimeoutMs: ctx.limits.wsStartTimeoutMs,
          log: ctx.log,
          metrics: ctx.metrics,
        });
      } finally {
        ctx.metrics.wsSessions.dec();
      }
    } catch (thrown) {
      const error = admission.fail(thrown);
      if (!socket.destroyed) rejectUpgrade(socket, error);
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
