/** Who is calling, as the auth modes establish it. */
import type { AuthMode } from './mode.js';
import type { NamespaceScope } from './scope.js';

export interface Principal {
  /**
   * The auth mode that vouched for the caller, `port-forward` (auth/port-forward.ts), or `preview`
   * (a signed preview link, ports/preview-auth.ts: that one port of that one claim).
   */
  readonly mode: AuthMode | 'port-forward' | 'preview';
  /** A human-readable identity for logs: a Kubernetes username, a token's name, or `anonymous`. */
  readonly name: string;
  /**
   * The key the per-caller stream limit counts by: the Kubernetes user, or the token's name. Only
   * without credentials (`none` mode) is it the client's address, and then never its port: a
   * caller opening more connections gets no more streams.
   */
  readonly callerKey: string;
  /**
   * The namespaces this caller may reach (scope.ts; checked by the admission for every surface):
   * a token's configured scope, the one namespace a SubjectAccessReview allowed, or all of them
   * (`none` mode).
   */
  readonly namespaces: NamespaceScope;
}

/** The credentials part of a request, from HTTP headers, a WebSocket upgrade or gRPC metadata. */
export interface Credentials {
  readonly authorization: string | undefined;
  /** The client's IP address, without a port. */
  readonly remoteAddress: string;
  /**
   * The request came in on the loopback listener that `kubectl port-forward` reaches (listen.ts):
   * set from the listening socket the connection was accepted on, never from anything the client
   * sends, nor from its address.
   */
  readonly viaPortForward?: boolean;
  /**
   * A browser sent it on behalf of some page (it carries `Origin`, or `Sec-Fetch-Site` other than
   * `none`): never the token-less port-forward caller, whatever page, or sandbox's preview page,
   * made the browser send it (auth/port-forward.ts).
   */
  readonly fromBrowser?: boolean;
}

/** Whether a request's headers show a browser sending it for a page (see Credentials.fromBrowser). */
export function sentByBrowserPage(headers: {
  readonly origin?: string | undefined;
  readonly 'sec-fetch-site'?: string | string[] | undefined;
}): boolean {
  const site = headers['sec-fetch-site'];
  return headers.origin !== undefined || (site !== undefined && site !== 'none');
}

/** A sandbox's coordinates, the object of every authorization question. */
export interface AuthTarget {
  readonly namespace: string;
  /** The Sandbox's name, as the caller gave it. */
  readonly name: string;
  /**
   * The claim that controls the Sandbox (by UID), when the caches know one: what `kubernetes`
   * mode asks RBAC about, since a Sandbox from upstream is not named like its claim. A function,
   * so that modes which decide by namespace never look the sandbox up before the scope check.
   */
  readonly claim?: () => string | undefined;
}

export interface Authenticator {
  readonly mode: AuthMode;
  /**
   * Resolves with the caller when it may use the sandbox `target`; rejects with RouterError
   * `unauthenticated` (no or bad credentials) or `permission_denied` (not allowed on this one).
   */
  authorize(credentials: Credentials, target: AuthTarget): Promise<Principal>;
  /**
   * Whether `authorize` would allow these credentials on `target` from what the router already
   * knows, at no cost (no API call). What it does not recognize is charged to the client address's
   * pre-authentication limit, so unknown credentials cannot make the router do unbounded work.
   */
  recognizes(credentials: Credentials, target: AuthTarget): boolean;
}

const BEARER_RE = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The token of an `Authorization: Bearer <token>` header (RFC 6750), or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  return BEARER_RE.exec(authorization)?.[1];
}
