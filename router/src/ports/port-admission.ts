/**
 * How a request on the port route or a preview link is admitted, the same for its HTTP and its
 * WebSocket form: the context it is admitted in, its route template, its target and credential.
 *
 * The URL is matched once (target.ts `matchPortRoute`) and its target checked once, inside the
 * admission (so a malformed one is counted like any refusal). A link's token is verified there,
 * once, and its grant is what the link's authenticator then speaks for: the token is never
 * parsed or checked again for the request.
 */
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import type { ForwardOptions } from '../http/proxy.js';
import { previewAuthenticator } from './preview-auth.js';
import { verifyPreview } from './preview-token.js';
import type { PreviewGrant, PreviewKeys } from './preview-token.js';
import { portRouteTarget, upstreamPath } from './target.js';
import type { PortRouteMatch, RoutedPort } from './target.js';

export const PORT_ROUTE_TEMPLATE = '/v1/namespaces/{namespace}/sandboxclaims/{name}/ports/{port}/{path}';
export const PREVIEW_ROUTE_TEMPLATE = '/v1/previews/{token}/{path}';

export interface PreviewOptions {
  /** Undefined: preview links are off (minting answers 501, links 401). */
  readonly keys: PreviewKeys | undefined;
  readonly now: () => number;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
}

export interface PortAdmission {
  /** The router's context, or for a link one whose authenticator is the link's grant. */
  readonly ctx: RouterContext;
  /** The route template, a metric label. */
  readonly route: string;
  readonly viaLink: boolean;
  /** The claim, port and path (a link's, once its token checked out); throws a RouterError. */
  readonly target: () => RoutedPort;
  /** The credential the admission checks: the client's Authorization (a link carries its own). */
  readonly authorization: string | undefined;
  /** What the pod learns of the route: the prefix it is served under, unless that is a link's. */
  forwarding(target: RoutedPort): ForwardOptions;
}

/** A link's prefix is its token: the sandbox learns neither (nor the Referer carrying it). */
const LINK_FORWARDING: ForwardOptions = { dropReferer: true };

export function portAdmission(
  ctx: RouterContext,
  previews: PreviewOptions,
  match: PortRouteMatch,
  authorization: string | undefined,
): PortAdmission {
  if (match.kind === 'port') {
    return {
      ctx,
      route: PORT_ROUTE_TEMPLATE,
      viaLink: false,
      target: () => portRouteTarget(match),
      authorization,
      forwarding: (target) => ({ forwardedPrefix: target.prefix }),
    };
  }
  let grant: PreviewGrant | undefined;
  return {
    ctx: { ...ctx, auth: previewAuthenticator(ctx.auth.mode, () => grant) },
    route: PREVIEW_ROUTE_TEMPLATE,
    viaLink: true,
    target: () => {
      if (previews.keys === undefined) {
        throw new RouterError(
          'unauthenticated',
          'preview link: preview links are not enabled on this router',
        );
      }
      grant = verifyPreview(previews.keys, match.token, previews.now());
      return {
        namespace: grant.namespace,
        name: grant.claim,
        port: grant.port,
        claimUid: grant.claimUid,
        path: upstreamPath(match.rest),
        prefix: `/v1/previews/${match.token}`,
      };
    },
    // The link is the credential: the client's Authorization is not the link's business.
    authorization: undefined,
    forwarding: () => LINK_FORWARDING,
  };
}
