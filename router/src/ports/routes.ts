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
import type { Response } from 'express';
import { z } from 'zod';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import { proxyHttp } from '../http/proxy.js';
import { sandboxRoute } from '../http/pipeline.js';
import { readJson, v1Target } from '../http/validate.js';
import { portAdmission } from './port-admission.js';
import type { PreviewOptions } from './port-admission.js';
import { signPreview } from './preview-token.js';
import { checkPortAccess, matchPortRoute } from './target.js';

export type { PreviewOptions };

export const MINT_ROUTE = '/v1/namespaces/:namespace/sandboxclaims/:name/previews';

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

const MintBody = (o: PreviewOptions) =>
  z.strictObject({
    port: z.number().int().min(1).max(65535),
    ttlSeconds: z.number().int().min(1).max(o.maxTtlSeconds).optional(),
  });

export function portRoutes(ctx: RouterContext, previews: PreviewOptions): Router {
  const router = Router();

  const counted = (res: Response): void => {
    res.once('close', () =>
      ctx.metrics.portRequests.inc({ kind: 'http', status: statusClass(res.statusCode) }),
    );
  };

  router.use((req, res, next) => {
    const match = matchPortRoute(req.originalUrl);
    if (match === undefined) {
      next();
      return;
    }
    counted(res);
    const admitted = portAdmission(ctx, previews, match, req.headers.authorization);
    const viaLink = admitted.viaLink;
    // Made for this request: its admission context (a link's authenticator) and target are its own.
    const proxy = sandboxRoute(
      admitted.ctx,
      {
        surface: 'proxy',
        route: admitted.route,
        style: 'v1',
        target: admitted.target,
        authorization: () => admitted.authorization,
      },
      async (req, res, scope) => {
        const endpoint = scope.resolve();
        checkPortAccess(endpoint, scope.target, ctx.agentPorts);
        const { port, path, prefix } = scope.target;
        await proxyHttp(req, res, scope, endpoint, {
          port,
          path,
          ...admitted.forwarding(scope.target),
          locationPrefix: prefix,
          maxBodyBytes: ctx.limits.maxBodyBytes,
          connectTimeoutMs: Math.min(5_000, Math.max(1, scope.deadline - Date.now())),
          log: ctx.log,
          metrics: ctx.metrics,
          dropResponseHeaders: PATH_ROUTE_DROPPED,
          ...(viaLink ? { responseOverrides: PREVIEW_POLICY } : {}),
          maxResponseHeaderBytes: ctx.limits.portMaxResponseHeaderBytes,
          idleTimeoutMs: ctx.limits.portIdleTimeoutMs,
          onBytes: (direction, bytes) => ctx.metrics.portBytes.inc({ direction }, bytes),
        });
      },
    );
    void proxy(req, res, next);
  });

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

  return router;
}
