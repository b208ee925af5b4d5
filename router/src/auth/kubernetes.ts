/**
 * `kubernetes` mode: the bearer token is a Kubernetes token (a ServiceAccount's, or a user's
 * OIDC token the API server accepts). A TokenReview says who it is; a SubjectAccessReview asks
 * whether that user may `get` the SandboxClaim named like the sandbox, in its namespace. So
 * access follows the same RBAC that lets a user see the claim with kubectl.
 *
 * Both answers are cached for `ttlMs` (denials too, so a refused caller cannot turn each request
 * into two API calls), keyed by a digest of the token, never the token itself. Concurrent
 * identical questions share one review.
 */
import { createHash } from 'node:crypto';
import { EXTENSIONS_GROUP, SANDBOX_CLAIM_PLURAL } from '@sandbank/api';
import { RouterError } from '../errors.js';
import type { RouterMetrics } from '../observability/metrics.js';
import type { AccessReviewer, UserInfo } from '../resolve/index.js';
import { bearerToken } from './principal.js';
import type { Authenticator } from './principal.js';

export interface KubernetesAuthOptions {
  readonly reviewer: AccessReviewer;
  readonly ttlMs: number;
  readonly metrics?: RouterMetrics;
  readonly now?: () => number;
  /**
   * Entries kept per cache. A bound on memory under a flood of distinct tokens; past it the
   * oldest entries go first (they are the nearest to expiry anyway).
   */
  readonly maxEntries?: number;
}

class TtlCache<V> {
  private readonly map = new Map<string, { value: Promise<V>; expires: number }>();
  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
    private readonly now: () => number,
  ) {}

  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.map.get(key);
    const t = this.now();
    if (hit && hit.expires > t) return hit.value;
    const value = load();
    this.map.set(key, { value, expires: t + this.ttlMs });
    // A failed review (API server down) is not an answer: forget it so the next call retries.
    value.catch(() => this.map.delete(key));
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
    return value;
  }
}

export function kubernetesAuthenticator(opts: KubernetesAuthOptions): Authenticator {
  const now = opts.now ?? Date.now;
  const max = opts.maxEntries ?? 10_000;
  const users = new TtlCache<UserInfo | undefined>(opts.ttlMs, max, now);
  const decisions = new TtlCache<{ allowed: boolean; reason: string }>(opts.ttlMs, max, now);
  const count = (decision: string): void => opts.metrics?.authDecisions.inc({ mode: 'kubernetes', decision });
  const unreachable = (error: unknown): RouterError =>
    new RouterError(
      'upstream_unavailable',
      'could not reach the Kubernetes API to check credentials; retry',
      {
        cause: error,
      },
    );

  return {
    mode: 'kubernetes',
    async authorize(credentials, target) {
      const token = bearerToken(credentials.authorization);
      if (token === undefined) {
        count('missing');
        throw new RouterError(
          'unauthenticated',
          'missing credentials: send Authorization: Bearer <Kubernetes token>',
        );
      }
      const tokenKey = createHash('sha256').update(token, 'utf8').digest('base64url');
      let user: UserInfo | undefined;
      try {
        user = await users.get(tokenKey, () => opts.reviewer.authenticate(token));
      } catch (error) {
        count('error');
        throw unreachable(error);
      }
      if (!user) {
        count('unauthenticated');
        throw new RouterError('unauthenticated', 'the Kubernetes API did not accept this bearer token');
      }
      const who = user;
      let decision: { allowed: boolean; reason: string };
      try {
        decision = await decisions.get(`${tokenKey} ${target.namespace}/${target.name}`, () =>
          opts.reviewer.authorize(who, {
            namespace: target.namespace,
            verb: 'get',
            group: EXTENSIONS_GROUP,
            resource: SANDBOX_CLAIM_PLURAL,
            name: target.name,
          }),
        );
      } catch (error) {
        count('error');
        throw unreachable(error);
      }
      if (!decision.allowed) {
        count('denied');
        throw new RouterError(
          'permission_denied',
          `${who.username} may not get sandboxclaims/${target.name} in namespace ${target.namespace}`,
        );
      }
      count('allowed');
      return { mode: 'kubernetes', name: who.username, callerKey: `user:${who.username}` };
    },
  };
}
