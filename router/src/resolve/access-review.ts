/**
 * TokenReview and SubjectAccessReview against the API server: the Kubernetes half of the
 * `kubernetes` auth mode, kept here because only resolve/ talks to the API server.
 */
import { transportFor } from '@sandbank/kube';
import type { KubeConfig } from '@sandbank/kube';
import { z } from 'zod';

export interface UserInfo {
  readonly username: string;
  readonly uid: string | undefined;
  readonly groups: readonly string[];
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

export interface ResourceAttributes {
  readonly namespace: string;
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  /** e.g. `exec`: RBAC grants it as `<resource>/<subresource>`, apart from the resource itself. */
  readonly subresource?: string;
  readonly name: string;
}

export interface AccessReviewer {
  /** The user a bearer token belongs to, or undefined when the API server does not accept it. */
  authenticate(token: string): Promise<UserInfo | undefined>;
  authorize(user: UserInfo, attrs: ResourceAttributes): Promise<{ allowed: boolean; reason: string }>;
}

const TokenReviewStatus = z.looseObject({
  status: z.looseObject({
    authenticated: z.boolean().optional(),
    user: z
      .looseObject({
        username: z.string().optional(),
        uid: z.string().optional(),
        groups: z.array(z.string()).optional(),
        extra: z.record(z.string(), z.array(z.string())).optional(),
      })
      .optional(),
  }),
});

const SarStatus = z.looseObject({
  status: z.looseObject({ allowed: z.boolean(), reason: z.string().optional() }),
});

export function createAccessReviewer(kc: KubeConfig): AccessReviewer {
  const transport = transportFor(kc);
  const create = (path: string, body: unknown): Promise<unknown> =>
    transport.request<unknown>({ method: 'POST', path, body });
  return {
    async authenticate(token) {
      const raw = await create('/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token },
      });
      const review = TokenReviewStatus.parse(raw);
      const user = review.status.user;
      if (review.status.authenticated !== true || !user?.username) return undefined;
      return { username: user.username, uid: user.uid, groups: user.groups ?? [], extra: user.extra ?? {} };
    },
    async authorize(user, attrs) {
      const raw = await create('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          groups: user.groups,
          extra: user.extra,
          resourceAttributes: attrs,
        },
      });
      const sar = SarStatus.parse(raw);
      return { allowed: sar.status.allowed, reason: sar.status.reason ?? '' };
    },
  };
}
