/**
 * The caller of a preview link: whoever holds the link's token, allowed that one claim's namespace
 * and nothing else (the handler then holds it to the link's port and claim UID). The token is the
 * credential, checked again here rather than trusted from the route's parse, so the admission's
 * one authorization step is where every link is verified.
 */
import type { Authenticator, Principal } from '../auth/index.js';
import { namespaceScope } from '../auth/index.js';
import { RouterError } from '../errors.js';
import type { PreviewKeys } from './preview-token.js';
import { verifyPreview } from './preview-token.js';

export function previewAuthenticator(
  inner: Authenticator,
  keys: PreviewKeys,
  now: () => number,
): Authenticator {
  return {
    mode: inner.mode,
    // A forged token costs one HMAC, no API call: nothing to charge to the pre-auth limit.
    recognizes: () => true,
    authorize(credentials, target) {
      const token = credentials.authorization;
      if (token === undefined)
        return Promise.reject(new RouterError('unauthenticated', 'preview link: no token'));
      let grant;
      try {
        grant = verifyPreview(keys, token, now());
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      if (grant.namespace !== target.namespace || grant.claim !== target.name) {
        return Promise.reject(
          new RouterError('permission_denied', 'preview link: not a link to this sandbox'),
        );
      }
      const principal: Principal = {
        mode: 'preview',
        name: `preview:${grant.namespace}/${grant.claim}:${grant.port}`,
        // Everyone holding links to one port is one caller: a leaked link holds at most the
        // per-caller limit of streams, and never another port's.
        callerKey: `preview:${grant.namespace}/${grant.claim}/${grant.claimUid}:${grant.port}`,
        namespaces: namespaceScope([grant.namespace]),
      };
      return Promise.resolve(principal);
    },
  };
}
