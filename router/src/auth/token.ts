/**
 * `token` mode: bearer tokens from Secrets, each with a name (one per tenant), compared in
 * constant time. The token's name is the caller: its stream limit is the tenant's own, wherever
 * its connections come from (behind a load balancer they all come from one address). Each token
 * carries the namespaces it may reach (token-scopes.ts), which the admission checks (scope.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { RouterError } from '../errors.js';
import type { RouterMetrics } from '../observability/metrics.js';
import { bearerToken } from './principal.js';
import type { Authenticator } from './principal.js';
import type { NamespaceScope } from './scope.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A Secret key (what names a token when a Secret is mounted as files). */
export const TOKEN_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
export const MIN_TOKEN_LENGTH = 16;
/** The name of a single token configured without one (ROUTER_AUTH_TOKEN, ROUTER_AUTH_TOKEN_FILE). */
export const DEFAULT_TOKEN_NAME = 'token';

/** What is wrong with one configured token (undefined: nothing). */
export function tokenProblem(name: string, token: string): string | undefined {
  if (!TOKEN_NAME_RE.test(name))
    return `${name}: a token's name must be a Secret key ([A-Za-z0-9._-], at most 253)`;
  if (token.length < MIN_TOKEN_LENGTH)
    return `${name}: a token needs at least ${MIN_TOKEN_LENGTH} characters`;
  return undefined;
}

/** Two names of one token (which one would its caller be?), or undefined. */
export function duplicateToken(tokens: Readonly<Record<string, string>>): string | undefined {
  const seen = new Map<string, string>();
  for (const [name, token] of Object.entries(tokens)) {
    const other = seen.get(token);
    if (other !== undefined) return `${other} and ${name}: the same token under two names`;
    seen.set(token, name);
  }
  return undefined;
}

/** One named token and what it opens. */
export interface TokenGrant {
  readonly token: string;
  /** The namespaces its caller may reach; there is no default, every token states its own. */
  readonly namespaces: NamespaceScope;
}

interface Known {
  readonly name: string;
  readonly digest: Buffer;
  readonly namespaces: NamespaceScope;
}

/** The configured tokens, checked (configuration errors are reported by config.ts first). */
function checked(grants: Readonly<Record<string, TokenGrant>>): Known[] {
  const entries = Object.entries(grants);
  if (entries.length === 0) throw new Error('token mode needs at least one token');
  const problem = entries.map(([name, g]) => tokenProblem(name, g.token)).find((p) => p !== undefined);
  const duplicate = duplicateToken(Object.fromEntries(entries.map(([name, g]) => [name, g.token])));
  if (problem !== undefined || duplicate !== undefined) throw new Error(problem ?? duplicate);
  return entries.map(([name, g]) => ({ name, digest: digest(g.token), namespaces: g.namespaces }));
}

/** `grants`: name → token and its namespaces. */
export function tokenAuthenticator(
  grants: Readonly<Record<string, TokenGrant>>,
  metrics?: RouterMetrics,
): Authenticator {
  const known = checked(grants);
  /** The presented token's entry, or undefined. */
  const match = (authorization: string | undefined): Known | undefined => {
    const token = bearerToken(authorization);
    if (token === undefined) return undefined;
    // Comparing digests gives equal lengths, so timingSafeEqual neither throws nor leaks the
    // length; every entry is compared, so the time does not say which one matched either.
    const got = digest(token);
    let found: Known | undefined;
    for (const k of known) if (timingSafeEqual(got, k.digest)) found = k;
    return found;
  };
  return {
    mode: 'token',
    authorize(credentials) {
      const found = match(credentials.authorization);
      if (found === undefined) {
        const missing = bearerToken(credentials.authorization) === undefined;
        metrics?.authDecisions.inc({ mode: 'token', decision: missing ? 'missing' : 'denied' });
        return Promise.reject(
          new RouterError(
            'unauthenticated',
            missing
              ? 'missing credentials: send Authorization: Bearer <router token>'
              : 'invalid bearer token',
          ),
        );
      }
      // Valid; whether it covers the target's namespace is the admission's one scope check,
      // which also counts the decision (allowed or out_of_scope), once per request.
      const { name, namespaces } = found;
      return Promise.resolve({ mode: 'token', name, callerKey: `token:${name}`, namespaces });
    },
    recognizes: (credentials) => match(credentials.authorization) !== undefined,
  };
}
