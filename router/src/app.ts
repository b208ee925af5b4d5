/**
 * `buildRouterApp(deps)`: the HTTP server (express routes + WebSocket upgrades) and the gRPC
 * passthrough server, wired but never listening; main.ts (or a test) binds them. `close()` drains:
 * new work is refused with `shutting_down`, work in flight gets the grace period, then whatever
 * is left is cut and every channel closed.
 */
import { createServer } from 'node:http';
import type { RequestListener, Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { Server as GrpcServer } from '@grpc/grpc-js';
import { OutputBudget } from './admission/output-budget.js';
import { SandboxGateway } from './agent/gateway.js';
import { AgentPool } from './agent/pool.js';
import { namespaceScope, portForwardAuthenticator, preAuthLimited } from './auth/index.js';
import type { Authenticator } from './auth/index.js';
import { DEFAULT_AGENT_PORTS, DEFAULT_LIMITS } from './config.js';
import type { AgentPorts, Limits } from './config.js';
import { ConnectionCap } from './connections.js';
import { ActiveTracker } from './context.js';
import type { RouterContext } from './context.js';
import { RouterError } from './errors.js';
import { buildGrpcPassthrough } from './grpc/passthrough.js';
import { legacyRoutes } from './http/legacy/routes.js';
import { openApiDocument } from './http/openapi.js';
import { sendError } from './http/pipeline.js';
import { processRoutes } from './http/processes.js';
import { v1Routes } from './http/v1.js';
import { PreAuthLimiter, StreamLimiter } from './limits.js';
import { createLogger } from './observability/logger.js';
import type { Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import type { RouterMetrics } from './observability/metrics.js';
import type { PreviewKeys } from './ports/preview-token.js';
import { portRoutes } from './ports/routes.js';
import type { PreviewOptions } from './ports/routes.js';
import { portUpgradeHandler } from './ports/upgrade.js';
import type { SandboxLookup } from './resolve/index.js';
import { secureContextOptions } from './tls.js';
import type { TlsMaterial } from './tls.js';
import { execUpgradeHandler } from './ws/upgrade.js';

export interface RouterDeps {
  readonly auth: Authenticator;
  /** Sandbox name → pod endpoint; owned by the caller (the app never closes it). */
  readonly lookup: SandboxLookup;
  readonly limits?: Partial<Limits>;
  readonly agentPorts?: Partial<AgentPorts>;
  /**
   * The agent key: each pod's agent token is derived from it and the pod's credential annotation
   * (agent/gateway.ts). Undefined: only pods without the annotation can be called.
   */
  readonly agentKey?: Buffer | undefined;
  readonly log?: Logger;
  readonly metrics?: RouterMetrics;
  /** Serve `/metrics` on the HTTP server too (default true; main.ts may use its own port). */
  readonly serveMetrics?: boolean;
  /** Dial tuning, mostly for tests. */
  readonly connect?: { readonly timeoutMs?: number; readonly retryDelaysMs?: readonly number[] };
  /**
   * The serving certificate and key: the HTTP server is then HTTPS only (`server` is an
   * https.Server; listen.ts swaps a renewed pair in with setSecureContext). Without it, plain HTTP.
   */
  readonly tls?: TlsMaterial | undefined;
  /**
   * Token-less tunnel mode (auth/port-forward.ts): requests without credentials that arrive on a
   * `portForwardServer()` are the `port-forward` caller, allowed in these namespaces only.
   */
  readonly portForward?: { readonly namespaces: readonly string[] } | undefined;
  /**
   * Signed preview links (ports/preview-token.ts): the keys (undefined: links are off), the clock
   * (tests), and the default and longest lifetime of a link (15 min, 24 h).
   */
  readonly previews?:
    | {
        readonly keys?: PreviewKeys | undefined;
        readonly now?: () => number;
        readonly defaultTtlSeconds?: number;
        readonly maxTtlSeconds?: number;
      }
    | undefined;
}

/** A preview link's lifetime when the caller asks for none, and the longest it may ask for. */
export const DEFAULT_PREVIEW_TTL_SECONDS = 900;
export const MAX_PREVIEW_TTL_SECONDS = 86_400;

export interface RouterApp {
  /** HTTP/1.1: legacy + Sandbank API + WebSocket exec. Not listening. */
  readonly server: HttpServer;
  /** HTTP/2: gRPC passthrough of sandbank.agent.v1. Not bound. */
  readonly grpcServer: GrpcServer;
  readonly metrics: RouterMetrics;
  /** `/metrics` as a plain request listener, for a separate metrics port. */
  readonly metricsListener: RequestListener;
  /**
   * Another network server like `server` (same app, TLS, limits), for a second address of the
   * pod (dual-stack): one Node server listens on one address.
   */
  networkServer(): HttpServer;
  /**
   * A server whose connections are the port-forward listener's (throws unless built with
   * `portForward`): plain HTTP, or `tls` (with the app's certificate) for clients that tunnel
   * TLS. Never bound itself: listen.ts hands it the connections its loopback listener accepts.
   */
  portForwardServer(mode: 'plain' | 'tls'): HttpServer;
  /** Drains and stops; safe to call twice. */
  close(): Promise<void>;
}

export function buildRouterApp(deps: RouterDeps): RouterApp {
  const log = deps.log ?? createLogger('info');
  const metrics = deps.metrics ?? createMetrics();
  const limits: Limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const agentPorts: AgentPorts = { ...DEFAULT_AGENT_PORTS, ...deps.agentPorts };
  const pool = new AgentPool({ grpcPort: agentPorts.grpcPort });
  const gateway = new SandboxGateway({
    lookup: deps.lookup,
    pool,
    log,
    agentKey: deps.agentKey,
    ...(deps.connect?.timeoutMs === undefined ? {} : { connectTimeoutMs: deps.connect.timeoutMs }),
    ...(deps.connect?.retryDelaysMs === undefined ? {} : { retryDelaysMs: deps.connect.retryDelaysMs }),
  });
  const tracker = new ActiveTracker();
  // Unknown credentials are checked at a bounded rate per client address (auth/pre-auth.ts).
  const limited = preAuthLimited(
    deps.auth,
    new PreAuthLimiter({ ratePerSecond: limits.preAuthRatePerSecond, burst: limits.preAuthBurst }),
    metrics,
  );
  // Connections accepted by a port-forward server; the only thing that makes a `port-forward` caller.
  const portForwardSockets = new WeakSet<object>();
  const ctx: RouterContext = {
    limits,
    agentPorts,
    auth:
      deps.portForward === undefined
        ? limited
        : portForwardAuthenticator(limited, namespaceScope(deps.portForward.namespaces)),
    gateway,
    limiter: new StreamLimiter(limits.maxStreamsPerCaller),
    outputBudget: new OutputBudget(limits.bufferedOutputBudgetBytes, metrics.bufferedOutput),
    log,
    metrics,
    tracker,
    viaPortForward: (socket) => portForwardSockets.has(socket),
  };

  const metricsListener: RequestListener = (_req, res) => {
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = deps.lookup.hasSynced() && !tracker.draining;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'not ready' });
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  if (deps.serveMetrics ?? true) app.get('/metrics', (req, res) => metricsListener(req, res));
  const previews: PreviewOptions = {
    keys: deps.previews?.keys,
    now: deps.previews?.now ?? Date.now,
    defaultTtlSeconds: deps.previews?.defaultTtlSeconds ?? DEFAULT_PREVIEW_TTL_SECONDS,
    maxTtlSeconds: deps.previews?.maxTtlSeconds ?? MAX_PREVIEW_TTL_SECONDS,
  };
  app.use(portRoutes(ctx, previews));
  app.use(processRoutes(ctx));
  app.use(v1Routes(ctx));
  app.use(legacyRoutes(ctx));
  app.use((req: Request, res: Response) => {
    const style = req.path.startsWith('/v1/') ? 'v1' : 'legacy';
    sendError(res, new RouterError('not_found', `no route for ${req.method} ${req.path}`), style);
  });
  // express's own failures (a malformed URL, …) as the one error type, never an HTML page.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const style = req.path.startsWith('/v1/') ? 'v1' : 'legacy';
    const status =
      typeof error === 'object' && error !== null && 'status' in error ? Number(error.status) : 500;
    // A URIError is a path segment express could not percent-decode (a process id, a name).
    const message =
      error instanceof URIError ? 'path: a segment is not valid percent-encoding' : 'malformed request';
    sendError(
      res,
      status >= 400 && status < 500 ? new RouterError('invalid_argument', message) : RouterError.from(error),
      style,
    );
  });

  const serverOptions = { requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 65_000 };
  // One cap for HTTP, WebSocket and gRPC connections; checked before the server reads a byte.
  const connections = new ConnectionCap(limits.maxConnections, metrics.registry);
  const upgrades = execUpgradeHandler(ctx);
  const portUpgrades = portUpgradeHandler(ctx, previews);
  const servers: HttpServer[] = [];
  const makeServer = (kind: 'network' | 'port-forward', tls: TlsMaterial | undefined): HttpServer => {
    const made: HttpServer =
      tls === undefined
        ? createServer(serverOptions, app)
        : createHttpsServer(
            { ...serverOptions, ...secureContextOptions(tls), ALPNProtocols: ['http/1.1'] },
            app,
          );
    made.prependListener('connection', (socket: Socket) => {
      if (kind === 'port-forward') portForwardSockets.add(socket);
      connections.admit(socket);
    });
    // Over TLS a request's socket is the TLS socket wrapping the accepted one.
    if (kind === 'port-forward' && tls !== undefined)
      made.prependListener('secureConnection', (socket: Socket) => portForwardSockets.add(socket));
    made.on('upgrade', (req, socket, head) => {
      if (!portUpgrades.handle(req, socket, head)) upgrades.handle(req, socket, head);
    });
    made.on('clientError', (_err, socket) => {
      if (socket.writable)
        socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    });
    servers.push(made);
    return made;
  };
  const server = makeServer('network', deps.tls);
  const grpcServer = buildGrpcPassthrough(ctx, connections);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      tracker.draining = true;
      const httpClosed = Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (!s.listening) resolve();
              else s.close(() => resolve());
            }),
        ),
      );
      for (const s of servers) s.closeIdleConnections();
      const drained = await Promise.race([
        tracker.idle().then(() => true),
        sleep(limits.shutdownGraceMs, false, { ref: false }),
      ]);
      if (!drained) {
        log.warn({ open: tracker.size }, 'shutdown grace period over; cutting open streams');
        tracker.abortAll(new RouterError('shutting_down', 'the router is shutting down; reconnect'));
      }
      upgrades.close();
      portUpgrades.close();
      for (const s of servers) s.closeAllConnections();
      if (drained) await new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
      else grpcServer.forceShutdown();
      await httpClosed;
      pool.close();
    })();
    return closing;
  };

  return {
    server,
    grpcServer,
    metrics,
    metricsListener,
    networkServer: () => makeServer('network', deps.tls),
    portForwardServer: (mode) => {
      if (deps.portForward === undefined) {
        throw new Error('a port-forward listener needs the app built with portForward namespaces');
      }
      if (mode === 'tls' && deps.tls === undefined)
        throw new Error('a TLS port-forward server needs the app built with TLS');
      return makeServer('port-forward', mode === 'tls' ? deps.tls : undefined);
    },
    close,
  };
}
