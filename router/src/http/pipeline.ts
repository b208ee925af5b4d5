/**
 * The life of one HTTP request to a sandbox: validate the target, authenticate and authorize,
 * take a stream slot, set the deadline, open a span, run the handler, and on any failure render
 * the one error type in the surface's shape. Also the access log and the request metrics.
 */
import type { Request, RequestHandler, Response } from 'express';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Context, Span } from '@opentelemetry/api';
import type { Principal } from '../auth/index.js';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { requestDeadlineMs } from '../limits.js';
import type { Logger } from '../observability/logger.js';
import type { Surface } from '../observability/metrics.js';
import { extractContext, tracer } from '../observability/tracing.js';
import type { SandboxRef } from '../resolve/index.js';
import { TimeoutHeader } from './validate.js';

/** Legacy errors are upstream's `{"detail": …}`; Sandbank API errors are `{"error": {code, message}}`. */
export type ErrorStyle = 'legacy' | 'v1';

export interface Scope {
  readonly target: SandboxRef;
  readonly principal: Principal;
  /** Aborted when the client goes away, the deadline passes, or shutdown cuts the request. */
  readonly signal: AbortSignal;
  /** Absolute deadline, ms since the epoch. */
  readonly deadline: number;
  readonly trace: Context;
  readonly span: Span;
  readonly log: Logger;
}

export interface RouteOptions {
  readonly surface: Surface;
  /** The route template, a metric label (never the concrete path). */
  readonly route: string;
  readonly style: ErrorStyle;
  readonly target: (req: Request) => SandboxRef;
}

export function sendError(res: Response, error: RouterError, style: ErrorStyle): void {
  if (res.headersSent) {
    // Bytes have flowed: the only honest signal left is an aborted response.
    res.destroy();
    return;
  }
  res.status(error.httpStatus);
  res.setHeader('x-sandbank-error-code', error.code);
  if (error.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(error.retryAfterSeconds));
  res.setHeader('cache-control', 'no-store');
  res.json(style === 'legacy' ? { detail: error.message } : error.toJSON());
}

export function sandboxRoute(
  ctx: RouterContext,
  opts: RouteOptions,
  handler: (req: Request, res: Response, scope: Scope) => Promise<void>,
): RequestHandler {
  return async (req, res) => {
    const started = process.hrtime.bigint();
    const controller = new AbortController();
    const untrack = ctx.tracker.add(controller);
    ctx.metrics.inflight.inc({ surface: opts.surface });
    let code: ErrorCode | undefined;
    let principal: Principal | undefined;
    let target: SandboxRef | undefined;
    let release: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const span = tracer.startSpan(
      `${req.method} ${opts.route}`,
      { kind: SpanKind.SERVER },
      extractContext(req.headers),
    );
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort(new RouterError('canceled', 'the client went away'));
    };
    res.on('close', onClose);
    res.on('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      ctx.metrics.requests.inc({ surface: opts.surface, route: opts.route, code: code ?? 'ok' });
      ctx.metrics.duration.observe({ surface: opts.surface, route: opts.route }, ms / 1000);
      ctx.metrics.inflight.dec({ surface: opts.surface });
      ctx.log.info(
        {
          method: req.method,
          route: opts.route,
          status: res.statusCode,
          ms: Math.round(ms * 100) / 100,
          code: code ?? 'ok',
          sandbox: target ? `${target.namespace}/${target.name}` : undefined,
          caller: principal?.name,
          remote: req.socket.remoteAddress,
        },
        'request',
      );
      span.end();
    });
    try {
      if (ctx.tracker.draining) throw new RouterError('shutting_down', 'the router is shutting down; retry');
      target = opts.target(req);
      const timeout = TimeoutHeader.safeParse(req.headers['x-sandbox-timeout']);
      if (!timeout.success) {
        throw new RouterError('invalid_argument', 'X-Sandbox-Timeout: must be a positive number of seconds');
      }
      const budgetMs = requestDeadlineMs(timeout.data, ctx.limits.requestTimeoutMs);
      const deadline = Date.now() + budgetMs;
      timer = setTimeout(
        () =>
          controller.abort(
            new RouterError(
              'deadline_exceeded',
              `the request did not finish within its timeout (${budgetMs / 1000} s; X-Sandbox-Timeout, capped by the router)`,
            ),
          ),
        budgetMs,
      );
      principal = await ctx.auth.authorize(
        { authorization: req.headers.authorization, remoteAddress: req.socket.remoteAddress ?? 'unknown' },
        target,
      );
      release = ctx.limiter.acquire(principal.callerKey).release;
      span.setAttribute('sandbank.sandbox', `${target.namespace}/${target.name}`);
      await handler(req, res, {
        target,
        principal,
        signal: controller.signal,
        deadline,
        trace: extractContext(req.headers),
        span,
        log: ctx.log,
      });
    } catch (thrown) {
      // An abort's reason (deadline, shutdown) explains the failure better than the cancelled call.
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
      const error =
        reason instanceof RouterError && reason.code !== 'canceled' ? reason : RouterError.from(thrown);
      code = error.code;
      if (error.code === 'internal') ctx.log.error({ err: error.cause, route: opts.route }, 'internal error');
      if (error.httpStatus >= 502 && error.httpStatus !== 503)
        ctx.metrics.upstreamErrors.inc({ code: error.code });
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.code });
      sendError(res, error, opts.style);
    } finally {
      clearTimeout(timer);
      release?.();
      untrack();
    }
  };
}
