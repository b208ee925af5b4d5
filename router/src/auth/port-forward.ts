/**
 * The `port-forward` caller: a request without credentials that arrived on the router's loopback
 * listener. Only `kubectl port-forward` (the CRI's port forwarding into the pod's network
 * namespace) reaches that listener from outside the pod, and the API server allowed it only to
 * whoever may `create pods/portforward` on the router pod: that permission is the credential.
 * So the caller gets exactly ROUTER_PORTFORWARD_NAMESPACES, and no per-user identity: everyone who
 * may port-forward this router shares one caller (one stream limit), which is why a router that
 * serves several tenants this way should be one per namespace.
 *
 * A request on that listener that does carry credentials is checked by the configured mode as
 * anywhere else (a bad token is refused, never downgraded to `port-forward`).
 *
 * Nor is a request a browser sent for a page: a page cannot add a token to a simple POST or a
 * WebSocket, but it can make the developer's browser send them to the forwarded port, and the
 * router's own origin serves sandboxes' pages (the port route, preview links). Without this, any
 * such page would be the port-forward caller.
 */
import type { Authenticator, Principal } from './principal.js';
import type { NamespaceScope } from './scope.js';

export const PORT_FORWARD_CALLER = 'port-forward';

export function portForwardAuthenticator(inner: Authenticator, namespaces: NamespaceScope): Authenticator {
  const principal: Principal = Object.freeze({
    mode: 'port-forward',
    name: PORT_FORWARD_CALLER,
    callerKey: PORT_FORWARD_CALLER,
    namespaces,
  });
  const portForwarded = (c: {
    viaPortForward?: boolean;
    authorization: string | undefined;
    fromBrowser?: boolean;
  }): boolean => c.viaPortForward === true && c.authorization === undefined && c.fromBrowser !== true;
  return {
    mode: inner.mode,
    recognizes: (credentials, target) => portForwarded(credentials) || inner.recognizes(credentials, target),
    authorize: (credentials, target) =>
      portForwarded(credentials) ? Promise.resolve(principal) : inner.authorize(credentials, target),
  };
}
