/**
 * The caller of a preview link: whoever holds the link, allowed that one claim's namespace and
 * nothing else (the handler then holds it to the link's port and claim UID). The link's token is
 * verified once, where the admission reads the request's target (port-admission.ts); this
 * authenticator is made for that one request and speaks for the grant the token carried.
 */
import type { Authenticator, Principal } from '../auth/index.js';
import { namespaceScope } from '../auth/index.js';
import type { AuthMode } from '../auth/mode.js';
import { RouterError } from '../errors.js';
import type { PreviewGrant } from './preview-token.js';

/** `verified` is the request's grant once its token checked out; undefined before (or never). */
export function previewAuthenticator(
  mode: AuthMode,
  verified: () => PreviewGrant | undefined,
): Authenticator {
  return {
    mode,
    // A forged token costs one HMAC, no API call: nothing to charge to the pre-auth limit.
    recognizes: () => true,
    authorize(_credentials, target) {
      const grant = verified();
      if (grant === undefined)
        return Promise.reject(new RouterError('unauthenticated', 'preview link: no verified token'));
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
