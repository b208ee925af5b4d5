import {
  ALL_NAMESPACES,
  kubernetesAuthenticator,
  loadConfig,
  namespaceScope,
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
  const auth = tokenAuthenticator({
    token: { token: 's3cret-token-0123456789', namespaces: ALL_NAMESPACES },
  });
  test('accepts exactly the token', async () => {
    await expect(auth.authorize(creds('Bearer s3cret-token-0123456789'), a)).resolves.toMatchObject({
      name: 'token',
    });
    await expect(auth.authorize(creds('Bearer s3cret-token-012345678'), a)).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    await expect(auth.authorize(creds(), a)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  test("the caller is the token's name, wherever it connects from (one load balancer address for all)", async () => {
    const tenants = tokenAuthenticator({
      'team-a': { token: 'team-a-token-0123456789', namespaces: namespaceScope(['a']) },
      'team-b': { token: 'team-b-token-0123456789', namespaces: namespaceScope(['b', 'c']) },
    });
    const viaLb = (token: string, port: number) => ({
      authorization: `Bearer ${token}`,
      remoteAddress: `10.0.0.1:${port}`,
    });
    const a1 = await tenants.authorize(viaLb('team-a-token-0123456789', 1), a);
    const a2 = await tenants.authorize(
      { ...viaLb('team-a-token-0123456789', 2), remoteAddress: '10.9.9.9' },
      a,
    );
    const b1 = await tenants.authorize(viaLb('team-b-token-0123456789', 1), a);
    expect(a1).toEqual({
      mode: 'token',
      name: 'team-a',
      callerKey: 'token:team-a',
      namespaces: namespaceScope(['a']),
    });
    expect(a2.callerKey).toBe(a1.callerKey);
    expect(b1).toEqual({
      mode: 'token',
      name: 'team-b',
      callerKey: 'token:team-b',
      namespaces: namespaceScope(['b', 'c']),
    });
    await expect(tenants.authorize(viaLb('team-c-token-0123456789', 1), a)).rejects.toMatchObject({
      code: 'unauthenticated',
    });
  });

  test('configured tokens are checked: names, length, duplicates', () => {
    const all = (token: string) => ({ token, namespaces: ALL_NAMESPACES });
    expect(() => tokenAuthenticator({ 'team-a': all('short') })).toThrow(/team-a: .*16/);
    expect(() => tokenAuthenticator({ 'bad name': all('a-long-enough-token-0123') })).toThrow(/bad name/);
    expect(() =>
      tokenAuthenticator({ x: all('the-same-token-0123456789'), y: all('the-same-token-0123456789') }),
    ).toThrow(/x and y/);
    expect(() => tokenAuthenticator({})).toThrow(/at least one token/);
  });

  test('only a valid token is recognized without asking anyone', () => {
    expect(auth.recognizes(creds('Bearer s3cret-token-0123456789'), a)).toBe(true);
    expect(auth.recognizes(creds('Bearer random-guess-0123456789'), a)).toBe(false);
    expect(auth.recognizes(creds(), a)).toBe(false);
  });
});

describe('none mode', () => {
  test('lets everyone in, one caller per client address (never per connection)', async () => {
    const none = noAuthenticator();
    const p1 = await none.authorize({ authorization: undefined, remoteAddress: '10.1.2.3' }, a);
    expect(p1).toEqual({
      mode: 'none',
      name: 'anonymous',
      callerKey: 'addr:10.1.2.3',
      namespaces: ALL_NAMESPACES,
    });
    expect(none.recognizes(creds(), a)).toBe(true);
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
        // Exec, files and ports need their own permission: `get` is what read-only roles have.
        expect(attrs).toEqual({
          namespace: 'ns',
          verb: 'create',
          group: 'extensions.agents.x-k8s.io',
          resource: 'sandboxclaims',
          subresource: 'exec',
          name: attrs.name,
        });
        return Promise.resolve({ allowed: attrs.name === 'claim-a', reason: '' });
      },
    };
  }

  test('RBAC is asked about the claim that controls the Sandbox, not the Sandbox name', async () => {
    // Upstream names a warm Sandbox like its pool's pod: the claim is the object of the grant.
    const auth = kubernetesAuthenticator({ reviewer: reviewer(), ttlMs: 1000 });
    await expect(
      auth.authorize(creds('Bearer good'), { namespace: 'ns', name: 'pool-x7k2p', claim: () => 'claim-a' }),
    ).resolves.toMatchObject({ name: 'alice' });
    // A Sandbox named like a claim the caller may use, but controlled by another claim: refused.
    await expect(
      auth.authorize(creds('Bearer good'), { namespace: 'ns', name: 'claim-a', claim: () => 'claim-b' }),
    ).rejects.toMatchObject({
      code: 'permission_denied',
      message:
        'alice may not create sandboxclaims/exec on the claim that owns sandbox claim-a in namespace ns',
    });
  });

  test('allowed on A, refused on B; answers cached for the TTL, shared by concurrent callers', async () => {
    let now = 0;
    const r = reviewer();
    const auth = kubernetesAuthenticator({ reviewer: r, ttlMs: 1000, now: () => now });
    const results = await Promise.all([1, 2, 3].map(() => auth.authorize(creds('Bearer good'), a)));
    expect(results[0]).toMatchObject({
      name: 'alice',
      callerKey: 'user:alice',
      // What the SubjectAccessReview answered for: the target's namespace.
      namespaces: namespaceScope(['ns']),
    });
    expect(r.calls).toEqual({ authn: 1, authz: 1 });
    await expect(auth.authorize(creds('Bearer good'), b)).rejects.toMatchObject({
      code: 'permission_denied',
      message: 'alice may not create sandboxclaims/exec on claim-b in namespace ns',
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

  test('recognizes only what it would allow from its caches, without asking the API server', async () => {
    let now = 0;
    const r = reviewer();
    const auth = kubernetesAuthenticator({ reviewer: r, ttlMs: 1000, now: () => now });
    expect(auth.recognizes(creds('Bearer good'), a)).toBe(false);
    await auth.authorize(creds('Bearer good'), a);
    await expect(auth.authorize(creds('Bearer good'), b)).rejects.toMatchObject({
      code: 'permission_denied',
    });
    await expect(auth.authorize(creds('Bearer bad'), a)).rejects.toMatchObject({ code: 'unauthenticated' });
    const calls = { ...r.calls };
    expect(auth.recognizes(creds('Bearer good'), a)).toBe(true);
    expect(auth.recognizes(creds('Bearer good'), b)).toBe(false);
    expect(auth.recognizes(creds('Bearer bad'), a)).toBe(false);
    expect(auth.recognizes(creds(), a)).toBe(false);
    expect(r.calls).toEqual(calls);
    now = 1500;
    expect(auth.recognizes(creds('Bearer good'), a)).toBe(false);
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

describe('token mode configuration', () => {
  const files: Record<string, string> = {
    '/run/auth/token': 'default-token-0123456789\n',
    '/run/auth/team-a': 'team-a-token-0123456789\n',
    '/run/auth/team-b': 'team-b-token-0123456789',
  };
  const readFile = (path: string): string => {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT: ${path}`);
    return text;
  };
  // A mounted Secret: its keys, plus the atomic-update entries the kubelet keeps beside them.
  const listDir = (): string[] => ['..2026_01_01', '..data', 'team-a', 'team-b', 'token'];
  const env = {
    ROUTER_AUTH_MODE: 'token',
    ROUTER_HOST: '127.0.0.1',
    ROUTER_AUTH_TOKEN_SCOPES: 'token=*; team-a=a; team-b=b',
  };

  test('ROUTER_AUTH_TOKEN_DIR: every key of the mounted Secret is a token, named by its key', () => {
    const c = loadConfig(
      { ...env, ROUTER_AUTH_TOKEN_DIR: '/run/auth', ROUTER_AUTH_TOKEN_FILE: '/run/auth/token' },
      readFile,
      listDir,
    );
    expect(c.auth).toEqual({
      mode: 'token',
      tokens: {
        token: { token: 'default-token-0123456789', namespaces: ALL_NAMESPACES },
        'team-a': { token: 'team-a-token-0123456789', namespaces: namespaceScope(['a']) },
        'team-b': { token: 'team-b-token-0123456789', namespaces: namespaceScope(['b']) },
      },
    });
  });

  test('errors name the variable and the token', () => {
    const short: Record<string, string> = { ...files, '/run/auth/team-b': 'short' };
    expect(() =>
      loadConfig(
        { ...env, ROUTER_AUTH_TOKEN_DIR: '/run/auth' },
        (p: string): string => short[p] ?? '',
        listDir,
      ),
    ).toThrow(/ROUTER_AUTH_TOKEN_DIR: team-b: a token needs at least 16 characters/);
    const twice: Record<string, string> = { ...files, '/run/auth/team-b': 'team-a-token-0123456789' };
    expect(() =>
      loadConfig(
        { ...env, ROUTER_AUTH_TOKEN_DIR: '/run/auth' },
        (p: string): string => twice[p] ?? '',
        listDir,
      ),
    ).toThrow(/ROUTER_AUTH_TOKEN_DIR: team-a and team-b: the same token under two names/);
    expect(() =>
      loadConfig({ ...env, ROUTER_AUTH_TOKEN_DIR: '/nowhere' }, readFile, () => {
        throw new Error('ENOENT');
      }),
    ).toThrow(/ROUTER_AUTH_TOKEN_DIR: cannot list \/nowhere/);
  });
});
