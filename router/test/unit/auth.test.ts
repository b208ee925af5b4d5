import {
  kubernetesAuthenticator,
  noAuthenticator,
  tokenAuthenticator,
  bearerToken,
} from '../../src/index.js';
import type { AccessReviewer } from '../../src/index.js';

const creds = (authorization?: string) => ({ authorization, remoteAddress: '10.1.2.3' });
const a = { namespace: 'ns', name: 'claim-a' };
const b = { namespace: 'ns', name: 'claim-b' };

describe('bearer tokens', () => {
  test('parses RFC 6750 Bearer headers only', () => {
    expect(bearerToken('Bearer abc.def-_~+/=')).toBe('abc.def-_~+/=');
    expect(bearerToken('bearer   x')).toBe('x');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe('token mode', () => {
  const auth = tokenAuthenticator('s3cret-token-0123456789');
  test('accepts exactly the token, per caller address', async () => {
    await expect(auth.authorize(creds('Bearer s3cret-token-0123456789'), a)).resolves.toMatchObject({
      callerKey: 'addr:10.1.2.3',
    });
    await expect(auth.authorize(creds('Bearer s3cret-token-012345678'), a)).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    await expect(auth.authorize(creds(), a)).rejects.toMatchObject({ code: 'unauthenticated' });
  });
  test('none mode lets everyone in', async () => {
    await expect(noAuthenticator().authorize(creds(), a)).resolves.toMatchObject({ name: 'anonymous' });
  });
});

describe('kubernetes mode', () => {
  function reviewer(): AccessReviewer & { calls: { authn: number; authz: number } } {
    const calls = { authn: 0, authz: 0 };
    return {
      calls,
      authenticate: (token) => {
        calls.authn++;
        return Promise.resolve(
          token === 'good' ? { username: 'alice', uid: 'u', groups: ['g'], extra: {} } : undefined,
        );
      },
      authorize: (_user, attrs) => {
        calls.authz++;
        expect(attrs).toMatchObject({
          verb: 'get',
          group: 'extensions.agents.x-k8s.io',
          resource: 'sandboxclaims',
        });
        return Promise.resolve({ allowed: attrs.name === 'claim-a', reason: '' });
      },
    };
  }

  test('allowed on A, refused on B; answers cached for the TTL, shared by concurrent callers', async () => {
    let now = 0;
    const r = reviewer();
    const auth = kubernetesAuthenticator({ reviewer: r, ttlMs: 1000, now: () => now });
    const results = await Promise.all([1, 2, 3].map(() => auth.authorize(creds('Bearer good'), a)));
    expect(results[0]).toMatchObject({ name: 'alice', callerKey: 'user:alice' });
    expect(r.calls).toEqual({ authn: 1, authz: 1 });
    await expect(auth.authorize(creds('Bearer good'), b)).rejects.toMatchObject({
      code: 'permission_denied',
    });
    await expect(auth.authorize(creds('Bearer good'), b)).rejects.toMatchObject({
      code: 'permission_denied',
    });
    expect(r.calls).toEqual({ authn: 1, authz: 2 });
    now = 1500;
    await auth.authorize(creds('Bearer good'), a);
    expect(r.calls).toEqual({ authn: 2, authz: 3 });
    await expect(auth.authorize(creds('Bearer bad'), a)).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(auth.authorize(creds(), a)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  test('an unreachable API server is a retryable upstream error, not cached', async () => {
    let fail = true;
    const r: AccessReviewer = {
      authenticate: () =>
        fail
          ? Promise.reject(new Error('ECONNREFUSED'))
          : Promise.resolve({ username: 'x', uid: undefined, groups: [], extra: {} }),
      authorize: () => Promise.resolve({ allowed: true, reason: '' }),
    };
    const auth = kubernetesAuthenticator({ reviewer: r, ttlMs: 60_000 });
    await expect(auth.authorize(creds('Bearer t'), a)).rejects.toMatchObject({
      code: 'upstream_unavailable',
    });
    fail = false;
    await expect(auth.authorize(creds('Bearer t'), a)).resolves.toMatchObject({ name: 'x' });
  });
});
