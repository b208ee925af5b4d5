/**
 * `kubernetes` mode: the bearer token is a Kubernetes token (a ServiceAccount's, or a user's
 * OIDC token the API server accepts). A TokenReview says who it is; a SubjectAccessReview asks
 * whether that user may `create` the `exec` subresource of the SandboxClaim that controls the
 * Sandbox (by UID; the Sandbox's own name when none does), in its namespace. Every surface asks the same: exec, file reads and writes, listings
 * and ports all run in, or reach into, code the claim's owner controls. Not `get`: read-only
 * roles (the built-in `view`) have that, and must not run commands. RBAC grants the subresource
 * as `sandboxclaims/exec`; the shipped ClusterRole `sandbank-user` (aggregated into `edit` and
 * `admin`) does.
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
import type { Authenticator, AuthTarget } from './principal.js';
import { namespaceScope } from './scope.js';

/** The permission every call to a sandbox needs: `create` on `sandboxclaims/exec`. */
export const EXEC_PERMISSION = {
  verb: 'create',
  group: EXTENSIONS_GROUP,
  resource: SANDBOX_CLAIM_PLURAL,
  subresource: 'exec',
} as const;

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

interface Entry<V> {
  readonly value: Promise<V>;
  readonly expires: number;
  /** The answer once the review has given it (what `peek` reads without waiting). */
  settled?: { readonly value: V };
}

class TtlCache<V> {
  private readonly map = new Map<string, Entry<V>>();
  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
    private readonly now: () => number,
  ) {}

  /** The answer cached for `key` when there is one, unexpired; never starts a review. */
  peek(key: string): { readonly value: V } | undefined {
    const hit = this.map.get(key);
    return hit && hit.expires > this.now() ? hit.settled : undefined;
  }

  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.map.get(key);
    const t = this.now();
    if (hit && hit.expires > t) return hit.value;
    const value = load();
    const entry: Entry<V> = { value, expires: t + this.ttlMs };
    // Deleted first so that a renewed entry moves to the end: the map's order is the eviction order.
    this.map.delete(key);
    this.map.set(key, entry);
    value.then(
      (v) => {
        entry.settled = { value: v };
      },
      // A failed review (API server down) is not an answer: forget it so the next call retries.
      () => {
        if (this.map.get(key) === entry) this.map.delete(key);
      },
    );
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

  const tokenKeyOf = (token: string): string =>
    createHash('sha256').update(token, 'utf8').digest('base64url');
  /** The claim RBAC is asked about: the one controlling the Sandbox, else the name given. */
  const claimOf = (target: AuthTarget): string => target.claim?.() ?? target.name;
  const decisionKey = (tokenKey: string, target: AuthTarget): string =>
    `${tokenKey} ${target.namespace}/${claimOf(target)}`;

  return {
    mode: 'kubernetes',
    recognizes(credentials, target) {
      const token = bearerToken(credentials.authorization);
      if (token === undefined) return false;
      const tokenKey = tokenKeyOf(token);
      return (
        users.peek(tokenKey)?.value !== undefined &&
        decisions.peek(decisionKey(tokenKey, target))?.value.allowed === true
      );
    },
    async authorize(credentials, target) {
      const token = bearerToken(credentials.authorization);
      if (token === undefined) {
        count('missing');
        throw new RouterError(
          'unauthenticated',
          'missing credentials: send Authorization: Bearer <Kubernetes token>',
        );
      }
      const tokenKey = tokenKeyOf(token);
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
        decision = await decisions.get(decisionKey(tokenKey, target), () =>
          opts.reviewer.authorize(who, {
            ...EXEC_PERMISSION,
            namespace: target.namespace,
            name: claimOf(target),
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
          claimOf(target) === target.name
            ? `${who.username} may not create sandboxclaims/exec on ${target.name} in namespace ${target.namespace}`
            : `${who.username} may not create sandboxclaims/exec on the claim that owns sandbox ${target.name} in namespace ${target.namespace}`,
        );
      }
      return {
        mode: 'kubernetes',
        name: who.username,
        callerKey: `user:${who.username}`,
        // What the review vouched for: this namespace (RBAC answers per namespace and name).
        namespaces: namespaceScope([target.namespace]),
      };
    },
  };
}
