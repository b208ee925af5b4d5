/**
 * Plain HTTP to any port a sandbox may expose:
 *
 * - `/v1/namespaces/{ns}/sandboxclaims/{name}/ports/{port}/{path…}`, any method, with the API's
 *   own authentication and authorization (the admission, as exec and files);
 * - `/v1/previews/{token}/{path…}`, the same port reached with a signed preview link instead;
 * - `POST /v1/namespaces/{ns}/sandboxclaims/{name}/previews` makes such a link.
 *
 * The pod is the one the claim resolves to (by UID, as every route); the port is the URL's, held
 * to the port policy (target.ts). The sandbox gets the path after the port, never the router's
 * credentials, cookies or headers, and never the link's token; what it answers may not set
 * cookies nor allow credentialed CORS on the router's origin (these are path routes: one origin
 * for every sandbox). The WebSocket form is in upgrade.ts.
 */
import { Router } from 'express';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import { proxyHttp } from '../http/proxy.js';
import { sandboxRoute } from '../http/pipeline.js';
import type { Scope } from '../http/pipeline.js';
import { readJson, v1Target } from '../http/validate.js';
import type { Endpoint } from '../resolve/index.js';
import { previewAuthenticator } from './preview-auth.js';
import { signPreview, verifyPreview } from './preview-token.js';
import type { PreviewKeys } from './preview-token.js';
import { PORT_ROUTE, PREVIEW_ROUTE, checkPortAccess, portRouteTarget, previewRouteTarget } from './target.js';
import type { PortTarget } from './target.js';

export const PORT_ROUTE_TEMPLATE = '/v1/namespaces/{namespace}/sandboxclaims/{name}/ports/{port}/{path}';
export const PREVIEW_ROUTE_TEMPLATE = '/v1/previews/{token}/{path}';
export const MINT_ROUTE = '/v1/namespaces/:namespace/sandboxclaims/:name/previews';

export interface PreviewOptions {
  /** Undefined: preview links are off (minting answers 501, links 401). */
  readonly keys: PreviewKeys | undefined;
  readonly now: () => number;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
}

/**
 * Path routes share the router's origin: a sandbox may not allow credentialed cross-origin reads
 * of it, widen a service worker's scope to the router's paths, or choose how its (link) URL is
 * passed on as Referer. Cookies and the other origin-wide headers are dropped for every proxied
 * response (http/proxy.ts).
 */
export const PATH_ROUTE_DROPPED: ReadonlySet<string> = new Set([
  'access-control-allow-credentials',
  'service-worker-allowed',
  'referrer-policy',
]);

/**
 * A preview is meant for a browser, so its scripts run, but in an opaque origin (no
 * `allow-same-origin`): never as the router's. The link's token is in the path: no Referer may
 * carry it to another site.
 */
const PREVIEW_POLICY = {
  'content-security-policy': 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads',
  'referrer-policy': 'no-referrer',
  'cache-control': 'private, no-store',
} as const;

/** `2xx`, `4xx`, …: the status label of the port metrics (a closed set). */
export const statusClass = (status: number): string =>
  status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';

/** The link's grant, also the request's target (its namespace and claim are what is authorized). */
interface PreviewTarget extends PortTarget {
  readonly claimUid: string;
}

export function previewTarget(options: PreviewOptions, token: string): PreviewTarget {
  if (options.keys === undefined) {
    throw new RouterError('unauthenticated', 'preview link: preview links are not enabled on this router');
  }
  const grant = verifyPreview(options.keys, token, options.now());
  return { namespace: grant.namespace, name: grant.claim, port: grant.port, claimUid: grant.claimUid };
}

/** The endpoint a preview link may reach: its claim, by the UID it was made for, and its port. */
export function checkPreview(endpoint: Endpoint, target: PreviewTarget, ctx: RouterContext): void {
  checkPortAccess(endpoint, target, ctx.agentPorts);
  if (endpoint.claimUid !== target.claimUid) {
    throw new RouterError(
      'not_found',
      `preview link: claim ${target.namespace}/${target.name} is not the one the link was made for (deleted and made again?)`,
    );
  }
}

/** The admission context preview links are checked in: the link is the credential. */
export function previewContext(ctx: RouterContext, options: PreviewOptions): RouterContext {
  const keys = options.keys ?? { signingKeyId: '', keys: new Map<string, Buffer>() };
  return { ...ctx, auth: previewAuthenticator(ctx.auth, keys, options.now) };
}

const MintBody = (o: PreviewOptions) =>
  z.strictObject({
    port: z.number().int().min(1).max(65535),
    ttlSeconds: z.number().int().min(1).max(o.maxTtlSeconds).optional(),
  });

export function portRoutes(ctx: RouterContext, previews: PreviewOptions): Router {
  const router = Router();
  const previewCtx = previewContext(ctx, previews);

  const proxy = (
    req: Request,
    res: Response,
    scope: Scope,
    endpoint: Endpoint,
    port: number,
    path: string,
    prefix: string,
    preview: boolean,
  ): Promise<void> =>
    proxyHttp(req, res, scope, endpoint, {
      port,
      path,
      // A link's prefix is its token: the sandbox learns neither (nor the Referer carrying it).
      ...(preview ? {} : { forwardedPrefix: prefix }),
      locationPrefix: prefix,
      maxBodyBytes: ctx.limits.maxBodyBytes,
      connectTimeoutMs: Math.min(5_000, Math.max(1, scope.deadline - Date.now())),
      log: ctx.log,
      metrics: ctx.metrics,
      dropResponseHeaders: PATH_ROUTE_DROPPED,
      ...(preview ? { responseOverrides: PREVIEW_POLICY } : {}),
      maxResponseHeaderBytes: ctx.limits.portMaxResponseHeaderBytes,
      idleTimeoutMs: ctx.limits.portIdleTimeoutMs,
      onBytes: (direction, bytes) => ctx.metrics.portBytes.inc({ direction }, bytes),
    });

  const counted = (res: Response): void => {
    res.once('close', () =>
      ctx.metrics.portRequests.inc({ kind: 'http', status: statusClass(res.statusCode) }),
    );
  };

  const byToken = sandboxRoute(
    ctx,
    {
      surface: 'proxy',
      route: PORT_ROUTE_TEMPLATE,
      style: 'v1',
      target: (req) => {
        const parsed = portRouteTarget(req.originalUrl);
        if (parsed === undefined)
          throw new RouterError('not_found', `no route for ${req.method} ${req.path}`);
        return parsed.target;
      },
    },
    async (req, res, scope) => {
      const parsed = portRouteTarget(req.originalUrl);
      if (parsed === undefined) throw new RouterError('internal', 'the port route lost its target');
      const endpoint = scope.resolve();
      checkPortAccess(endpoint, scope.target, ctx.agentPorts);
      await proxy(req, res, scope, endpoint, scope.target.port, parsed.path, parsed.prefix, false);
    },
  );

  const byLink = sandboxRoute(
    previewCtx,
    {
      surface: 'proxy',
      route: PREVIEW_ROUTE_TEMPLATE,
      style: 'v1',
      target: (req) => previewTarget(previews, previewRouteTarget(req.originalUrl)?.token ?? ''),
      authorization: (req) => previewRouteTarget(req.originalUrl)?.token,
    },
    async (req, res, scope) => {
      const parsed = previewRouteTarget(req.originalUrl);
      if (parsed === undefined) throw new RouterError('internal', 'the preview route lost its target');
      const endpoint = scope.resolve();
      checkPreview(endpoint, scope.target, ctx);
      delete req.headers.referer;
      await proxy(req, res, scope, endpoint, scope.target.port, parsed.path, parsed.prefix, true);
    },
  );

  router.post(
    MINT_ROUTE,
    sandboxRoute(
      ctx,
      {
        surface: 'v1',
        route: '/v1/namespaces/{namespace}/sandboxclaims/{name}/previews',
        style: 'v1',
        target: (req) => v1Target(req.params),
      },
      async (req, res, scope) => {
        const body = await readJson(req, ctx.limits.maxJsonBytes, MintBody(previews), scope.signal);
        const keys = previews.keys;
        if (keys === undefined) {
          throw new RouterError(
            'unimplemented',
            'preview links are not enabled on this router (ROUTER_PREVIEW_KEYS_DIR is unset or holds no key)',
          );
        }
        const target = { ...scope.target, port: body.port };
        const endpoint = scope.resolve();
        checkPortAccess(endpoint, target, ctx.agentPorts);
        const ttl = body.ttlSeconds ?? previews.defaultTtlSeconds;
        const expiresAt = (Math.floor(previews.now() / 1000) + ttl) * 1000;
        const token = signPreview(keys, {
          namespace: target.namespace,
          claim: target.name,
          claimUid: endpoint.claimUid,
          port: target.port,
          expiresAt,
        });
        res.setHeader('cache-control', 'no-store');
        res.status(201).json({
          url: `/v1/previews/${token}/`,
          token,
          port: target.port,
          expiresAt: new Date(expiresAt).toISOString(),
        });
      },
    ),
  );

  router.use((req, res, next) => {
    if (PORT_ROUTE.test(req.originalUrl)) {
      counted(res);
      void byToken(req, res, next);
    } else if (PREVIEW_ROUTE.test(req.originalUrl)) {
      counted(res);
      void byLink(req, res, next);
    } else next();
  });
  return router;
}
