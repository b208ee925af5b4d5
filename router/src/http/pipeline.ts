/**
 * One HTTP request to a sandbox: admitted like every other surface's work (admission/), with the
 * handler run in its scope, and any failure rendered as the one error type in the route's style.
 */
import type { Request, RequestHandler, Response } from 'express';
import { Admission } from '../admission/admission.js';
import type { Scope } from '../admission/admission.js';
import { requestBudget } from '../admission/budget.js';
import type { Budget } from '../admission/budget.js';
import { sentByBrowserPage } from '../auth/index.js';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import type { Surface } from '../observability/metrics.js';
import type { SandboxRef } from '../resolve/index.js';

export type { Scope };

/** Legacy errors are upstream's `{"detail": …}`; Sandbank API errors are `{"error": {code, message}}`. */
export type ErrorStyle = 'legacy' | 'v1';

export interface RouteOptions<T extends SandboxRef = SandboxRef> {
  readonly surface: Surface;
  /** The route template, a metric label (never the concrete path). */
  readonly route: string;
  readonly style: ErrorStyle;
  /** Parses the request's target once; the handler gets it as `scope.target`. */
  readonly target: (req: Request) => T;
  /** The credential the route's authenticator checks (default: the `Authorization` header). */
  readonly authorization?: (req: Request) => string | undefined;
  /** How long the work may run (default: X-Sandbox-Timeout capped by the request timeout). */
  readonly budget?: (req: Request) => Budget;
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

export function sandboxRoute<T extends SandboxRef>(
  ctx: RouterContext,
  opts: RouteOptions<T>,
  handler: (req: Request, res: Response, scope: Scope<T>) => Promise<void>,
): RequestHandler {
  return async (req, res) => {
    await using admission = new Admission(ctx, {
      surface: opts.surface,
      route: opts.route,
      spanName: `${req.method} ${opts.route}`,
      carrier: req.headers,
      remoteAddress: req.socket.remoteAddress ?? 'unknown',
      viaPortForward: ctx.viaPortForward(req.socket),
      fromBrowser: sentByBrowserPage(req.headers),
      logFields: () => ({ method: req.method, status: res.statusCode }),
    });
    res.on('close', () => {
      if (!res.writableFinished) admission.abort(new RouterError('canceled', 'the client went away'));
    });
    try {
      const scope = await admission.admit({
        target: () => opts.target(req),
        budget: () =>
          opts.budget === undefined
            ? requestBudget(req.headers['x-sandbox-timeout'], ctx.limits.requestTimeoutMs)
            : opts.budget(req),
        authorization: opts.authorization === undefined ? req.headers.authorization : opts.authorization(req),
      });
      await handler(req, res, scope);
    } catch (thrown) {
      sendError(res, admission.fail(thrown), opts.style);
    }
  };
}
