/**
 * Token scopes (#17): every token names the namespaces it may reach, or the router does not
 * start; a token outside its scope is refused before the sandbox is looked up, in the one place
 * every surface passes (the admission), and counted.
 */
import {
  ALL_NAMESPACES,
  ConfigError,
  createMetrics,
  loadConfig,
  namespaceScope,
  tokenAuthenticator,
} from '../../src/index.js';
import type { SandboxLookup } from '../../src/index.js';
import { startRouter } from '../helpers/router.js';

const TEAM_A = 'team-a-token-0123456789';
const TEAM_B = 'team-b-token-0123456789';
const OPS = 'ops-token-0123456789ab';
const files: Record<string, string> = {
  '/run/auth/team-a': TEAM_A,
  '/run/auth/team-b': TEAM_B,
  '/run/auth/ops': OPS,
  '/etc/scopes': '# tenants\nteam-a = team-a\n\nteam-b=team-b, shared  # two\nops=*\n',
};
const readFile = (path: string): string => {
  const text = files[path];
  if (text === undefined) throw new Error(`ENOENT: ${path}`);
  return text;
};
const listDir = (): string[] => ['..data', 'ops', 'team-a', 'team-b'];
const env = { ROUTER_AUTH_MODE: 'token', ROUTER_HOST: '127.0.0.1', ROUTER_AUTH_TOKEN_DIR: '/run/auth' };
const load = (extra: Record<string, string>) => loadConfig({ ...env, ...extra }, readFile, listDir);

describe('ROUTER_AUTH_TOKEN_SCOPES', () => {
  test('each token gets exactly the namespaces named for it; * is every namespace', () => {
    const want = {
      mode: 'token',
      tokens: {
        'team-a': { token: TEAM_A, namespaces: namespaceScope(['team-a']) },
        'team-b': { token: TEAM_B, namespaces: namespaceScope(['team-b', 'shared']) },
        ops: { token: OPS, namespaces: ALL_NAMESPACES },
      },
    };
    expect(load({ ROUTER_AUTH_TOKEN_SCOPES: 'team-a=team-a;team-b=team-b,shared;ops=*' }).auth).toEqual(want);
    // The same from a file (a mounted ConfigMap), with comments and blank lines.
    expect(load({ ROUTER_AUTH_TOKEN_SCOPES_FILE: '/etc/scopes' }).auth).toEqual(want);
  });

  test('a token without a scope refuses to start, naming it (never a silent "all namespaces")', () => {
    const attempt = (extra: Record<string, string>) => () => load(extra);
    expect(attempt({})).toThrow(ConfigError);
    expect(attempt({})).toThrow(/^ROUTER_AUTH_TOKEN_SCOPES: ops, team-a, team-b: no namespaces given/);
    expect(attempt({ ROUTER_AUTH_TOKEN_SCOPES: 'team-a=team-a; ops=*' })).toThrow(
      /^ROUTER_AUTH_TOKEN_SCOPES: team-b: no namespaces given; add <name>=<namespace>/,
    );
    // The single token of ROUTER_AUTH_TOKEN is named `token`, and needs its entry as well.
    expect(() =>
      loadConfig({ ROUTER_AUTH_MODE: 'token', ROUTER_HOST: '::1', ROUTER_AUTH_TOKEN: TEAM_A }),
    ).toThrow(/ROUTER_AUTH_TOKEN_SCOPES: token: no namespaces given/);
  });

  test.each([
    ['team-a=', /team-a: namespaces: at least one namespace, or \*/],
    ['team-a=Team_A', /team-a: namespaces: "Team_A": not a namespace name/],
    ['team-a=a,*', /team-a: namespaces: \* stands alone/],
    [`team-a=${'x'.repeat(64)}`, /team-a: namespaces: "x{64}": not a namespace name/],
    ['team-a', /entry 1 \("team-a"\): expected <token name>=<namespaces>/],
    ['bad name=a', /bad name: name: a token's name is a Secret key/],
    ['team-a=a; team-a=b', /team-a: given twice/],
    ['team-a=a; team-b=b; ops=*; team-c=c', /team-c: there is no token of that name/],
  ])('%j is refused, naming the token and the field', (scopes, message) => {
    const attempt = () => load({ ROUTER_AUTH_TOKEN_SCOPES: scopes });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/^ROUTER_AUTH_TOKEN_SCOPES: /);
    expect(attempt).toThrow(message);
  });

  test("a scope stays inside the router's own ROUTER_NAMESPACES; the file and the variable are exclusive", () => {
    expect(() =>
      load({
        ROUTER_NAMESPACES: 'team-a,team-b',
        ROUTER_AUTH_TOKEN_SCOPES: 'team-a=team-a;team-b=team-c;ops=*',
      }),
    ).toThrow(/ROUTER_AUTH_TOKEN_SCOPES: team-b: namespaces: team-c is not one the router serves/);
    expect(
      load({
        ROUTER_NAMESPACES: 'team-a,team-b',
        ROUTER_AUTH_TOKEN_SCOPES: 'team-a=team-a;team-b=team-b;ops=*',
      }),
    ).toMatchObject({ namespaces: ['team-a', 'team-b'], auth: { mode: 'token' } });
    expect(() =>
      load({ ROUTER_AUTH_TOKEN_SCOPES: 'ops=*', ROUTER_AUTH_TOKEN_SCOPES_FILE: '/etc/scopes' }),
    ).toThrow(/ROUTER_AUTH_TOKEN_SCOPES_FILE: set it or ROUTER_AUTH_TOKEN_SCOPES, not both/);
    expect(() => load({ ROUTER_AUTH_TOKEN_SCOPES_FILE: '/nowhere' })).toThrow(
      /ROUTER_AUTH_TOKEN_SCOPES_FILE: cannot read \/nowhere/,
    );
  });
});

describe('the scope check', () => {
  test('out of scope is 403 before any lookup, the same for every name, and counted', async () => {
    const looked: string[] = [];
    // Records what is looked up; nothing resolves (an in-scope call is then 404).
    const lookup: SandboxLookup = {
      resolve: (ref) => {
        looked.push(`${ref.namespace}/${ref.name}`);
        return { kind: 'not_found', message: `sandbox ${ref.name} not found` };
      },
      hasSynced: () => true,
      oomKilledAfter: () => Promise.resolve(false),
      close: () => Promise.resolve(),
    };
    const metrics = createMetrics();
    const r = await startRouter({
      lookup,
      metrics,
      auth: tokenAuthenticator(
        { 'team-a': { token: TEAM_A, namespaces: namespaceScope(['team-a']) } },
        metrics,
      ),
    });
    try {
      const stat = (ns: string, name: string) =>
        fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/${name}/stat?path=.`, {
          headers: { authorization: `Bearer ${TEAM_A}` },
        });
      const refused = await stat('team-b', 'anything');
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({
        error: { code: 'permission_denied', message: 'team-a may not use sandboxes in namespace team-b' },
      });
      expect(looked).toEqual([]);
      const mine = await stat('team-a', 'missing');
      expect(mine.status).toBe(404);
      expect(looked).toEqual(['team-a/missing']);
      // each request counted once: the refused one out_of_scope, the one in scope allowed
      const counted = await metrics.registry.metrics();
      expect(counted).toMatch(
        /sandbank_router_auth_decisions_total\{mode="token",decision="out_of_scope"\} 1\b/,
      );
      expect(counted).toMatch(/sandbank_router_auth_decisions_total\{mode="token",decision="allowed"\} 1\b/);
    } finally {
      await r.close();
    }
  });
});
