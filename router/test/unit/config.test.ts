import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_NAMESPACES, ConfigError, loadConfig } from '../../src/index.js';
import { routerTls } from '../helpers/tls.js';
import type { RouterTls } from '../helpers/tls.js';

describe('loadConfig', () => {
  test('refuses to start without an auth mode', () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    expect(() => loadConfig({})).toThrow(/ROUTER_AUTH_MODE: required/);
  });

  test('token mode needs a token, preferably from a file', () => {
    expect(() => loadConfig({ ROUTER_AUTH_MODE: 'token' })).toThrow(/token mode needs a token/);
    const c = loadConfig(
      {
        ROUTER_AUTH_MODE: 'token',
        ROUTER_AUTH_TOKEN_FILE: '/secret',
        ROUTER_AUTH_TOKEN_SCOPES: 'token=*',
        ROUTER_HOST: '127.0.0.1',
      },
      () => 'a-token-of-16-chars!\n',
    );
    expect(c.auth).toEqual({
      mode: 'token',
      tokens: { token: { token: 'a-token-of-16-chars!', namespaces: ALL_NAMESPACES } },
    });
  });

  test('refuses the removed one-token-for-every-agent setting, pointing at its replacement', () => {
    expect(() =>
      loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_HOST: '127.0.0.1', ROUTER_AGENT_TOKEN_FILE: '/t' }),
    ).toThrow(/ROUTER_AGENT_TOKEN_FILE: removed; .*ROUTER_AGENT_KEY_FILE/);
  });

  test('refuses a ROUTER_NAMESPACES entry that is not a namespace name, naming the entry', () => {
    const base = { ROUTER_AUTH_MODE: 'none', ROUTER_HOST: '127.0.0.1' };
    expect(loadConfig({ ...base, ROUTER_NAMESPACES: 'team-a, team-b' }).namespaces).toEqual([
      'team-a',
      'team-b',
    ]);
    expect(() => loadConfig({ ...base, ROUTER_NAMESPACES: 'team-a,Team_B' })).toThrow(
      /ROUTER_NAMESPACES\.1: not a namespace name/,
    );
  });

  test('defaults, and errors that name the variable', () => {
    const c = loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_HOST: '127.0.0.1' });
    expect(c).toMatchObject({ port: 8080, grpcPort: 8081, metricsPort: 9090, namespaces: [] });
    expect(c.limits).toMatchObject({
      requestTimeoutMs: 180_000,
      maxStreamsPerCaller: 64,
      wsMaxMessageBytes: 16 * 1024 * 1024,
    });
    expect(c.agent).toEqual({ grpcPort: 8889, legacyPort: 8888 });
    expect(() => loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_PORT: 'eighty' })).toThrow(/ROUTER_PORT: /);
    expect(() => loadConfig({ ROUTER_AUTH_MODE: 'open' })).toThrow(/ROUTER_AUTH_MODE: /);
    expect(
      loadConfig({ ROUTER_AUTH_MODE: 'kubernetes', ROUTER_NAMESPACES: 'a, b', ROUTER_HOST: '::1' }),
    ).toMatchObject({
      namespaces: ['a', 'b'],
      auth: { mode: 'kubernetes', cacheTtlMs: 10_000 },
    });
  });
});

describe('transport: TLS, or plain HTTP only where no credential crosses a network', () => {
  let dir: string;
  let tls: RouterTls;
  let other: RouterTls;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sandbank-router-config-'));
    tls = await routerTls(join(dir, 'tls'));
    other = await routerTls(join(dir, 'other'));
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('plain HTTP on a non-loopback bind is refused at config time, naming the settings', () => {
    // the default bind is every address: without a certificate that would put bearer tokens on the wire
    for (const host of [undefined, '0.0.0.0', '::', '10.1.2.3', 'localhost', 'router.example']) {
      const env = {
        ROUTER_AUTH_MODE: 'token',
        ROUTER_AUTH_TOKEN: 'a-token-of-16-chars!',
        ROUTER_AUTH_TOKEN_SCOPES: 'token=*',
      };
      const attempt = () => loadConfig(host === undefined ? env : { ...env, ROUTER_HOST: host });
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(/ROUTER_TLS_CERT_FILE: required/);
      expect(attempt).toThrow(/ROUTER_INSECURE_PLAINTEXT=true/);
    }
  });

  test('plain HTTP on loopback (port-forward, local development) is allowed', () => {
    for (const host of ['127.0.0.1', '127.0.0.9', '::1']) {
      expect(loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_HOST: host }).transport).toEqual({
        kind: 'plaintext',
        reason: 'loopback',
      });
    }
  });

  test('ROUTER_INSECURE_PLAINTEXT=true allows plain HTTP anywhere; anything but true/false is an error', () => {
    expect(loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_INSECURE_PLAINTEXT: 'true' }).transport).toEqual({
      kind: 'plaintext',
      reason: 'insecure',
    });
    expect(() => loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_INSECURE_PLAINTEXT: 'yes' })).toThrow(
      /ROUTER_INSECURE_PLAINTEXT: /,
    );
    expect(() => loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_INSECURE_PLAINTEXT: 'false' })).toThrow(
      /ROUTER_TLS_CERT_FILE: required/,
    );
  });

  test('a certificate and its key turn TLS on, on any bind', () => {
    const c = loadConfig({
      ROUTER_AUTH_MODE: 'none',
      ROUTER_TLS_CERT_FILE: tls.certFile,
      ROUTER_TLS_KEY_FILE: tls.keyFile,
    });
    expect(c.host).toBe('0.0.0.0');
    expect(c.transport).toMatchObject({
      kind: 'tls',
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      reloadMs: 60_000,
      material: { cert: tls.cert(), key: tls.key() },
    });
    const onLoopback = loadConfig({
      ROUTER_AUTH_MODE: 'none',
      ROUTER_HOST: '127.0.0.1',
      ROUTER_TLS_CERT_FILE: tls.certFile,
      ROUTER_TLS_KEY_FILE: tls.keyFile,
      ROUTER_TLS_RELOAD_SECONDS: '5',
    });
    expect(onLoopback.transport).toMatchObject({ kind: 'tls', reloadMs: 5_000 });
  });

  test('bad TLS settings name the variable', () => {
    const base = { ROUTER_AUTH_MODE: 'none' };
    const cases: [Record<string, string>, RegExp][] = [
      [{ ROUTER_TLS_CERT_FILE: tls.certFile }, /ROUTER_TLS_KEY_FILE: required with ROUTER_TLS_CERT_FILE/],
      [{ ROUTER_TLS_KEY_FILE: tls.keyFile }, /ROUTER_TLS_CERT_FILE: required with ROUTER_TLS_KEY_FILE/],
      [
        { ROUTER_TLS_CERT_FILE: join(dir, 'missing.crt'), ROUTER_TLS_KEY_FILE: tls.keyFile },
        /ROUTER_TLS_CERT_FILE: cannot read/,
      ],
      [
        { ROUTER_TLS_CERT_FILE: tls.certFile, ROUTER_TLS_KEY_FILE: join(dir, 'missing.key') },
        /ROUTER_TLS_KEY_FILE: cannot read/,
      ],
      // the key where the certificate belongs, and the other way round
      [
        { ROUTER_TLS_CERT_FILE: tls.keyFile, ROUTER_TLS_KEY_FILE: tls.keyFile },
        /ROUTER_TLS_CERT_FILE: not a PEM certificate/,
      ],
      [
        { ROUTER_TLS_CERT_FILE: tls.certFile, ROUTER_TLS_KEY_FILE: tls.certFile },
        /ROUTER_TLS_KEY_FILE: not a PEM private key/,
      ],
      // a key of another certificate
      [
        { ROUTER_TLS_CERT_FILE: tls.certFile, ROUTER_TLS_KEY_FILE: other.keyFile },
        /ROUTER_TLS_KEY_FILE: does not belong to the certificate in ROUTER_TLS_CERT_FILE/,
      ],
      [
        {
          ROUTER_TLS_CERT_FILE: tls.certFile,
          ROUTER_TLS_KEY_FILE: tls.keyFile,
          ROUTER_INSECURE_PLAINTEXT: 'true',
        },
        /ROUTER_INSECURE_PLAINTEXT: cannot be true together with ROUTER_TLS_CERT_FILE/,
      ],
      [
        {
          ROUTER_TLS_CERT_FILE: tls.certFile,
          ROUTER_TLS_KEY_FILE: tls.keyFile,
          ROUTER_TLS_RELOAD_SECONDS: '0',
        },
        /ROUTER_TLS_RELOAD_SECONDS: /,
      ],
    ];
    for (const [env, message] of cases) {
      expect(() => loadConfig({ ...base, ...env })).toThrow(message);
    }
  });

  describe('token-less tunnel mode (ROUTER_PORTFORWARD_NAMESPACES)', () => {
    const base = { ROUTER_AUTH_MODE: 'kubernetes', ROUTER_INSECURE_PLAINTEXT: 'true' };

    test('off by default; the network listener binds ROUTER_HOST', () => {
      const c = loadConfig({ ...base, ROUTER_HOST: '10.0.0.5' });
      expect(c.portForward).toBeUndefined();
      expect(c.networkHosts).toEqual(['10.0.0.5']);
    });

    test("on: the namespaces, and the network listener on the pod's own addresses", () => {
      const c = loadConfig({
        ...base,
        ROUTER_PORTFORWARD_NAMESPACES: 'team-a, team-b',
        ROUTER_BIND_ADDRESSES: '10.244.0.7,fd00::7',
      });
      expect(c.portForward).toEqual({ namespaces: ['team-a', 'team-b'] });
      expect(c.networkHosts).toEqual(['10.244.0.7', 'fd00::7']);
    });

    test.each([
      ['the default wildcard ROUTER_HOST', {}],
      ['ROUTER_HOST=::', { ROUTER_HOST: '::' }],
      ['a wildcard among the bind addresses', { ROUTER_BIND_ADDRESSES: '10.244.0.7,0.0.0.0' }],
      ['an IPv6 wildcard bind address', { ROUTER_BIND_ADDRESSES: '::' }],
      ['the IPv6 wildcard spelled out', { ROUTER_BIND_ADDRESSES: '0:0:0:0:0:0:0:0' }],
      ['a bracketed wildcard ROUTER_HOST', { ROUTER_HOST: '[::]' }],
      ['a name as ROUTER_HOST (it may resolve to anything)', { ROUTER_HOST: 'router.local' }],
    ])('refuses to start with %s, naming the wildcard', (_what, env) => {
      expect(() => loadConfig({ ...base, ROUTER_PORTFORWARD_NAMESPACES: 'team-a', ...env })).toThrow(
        /ROUTER_PORTFORWARD_NAMESPACES: the network listener must not bind a wildcard address/,
      );
    });

    test.each(['127.0.0.1', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1', '::ffff:7f00:1'])(
      'refuses %s as a network address (the port-forward listener is there)',
      (address) => {
        expect(() =>
          loadConfig({ ...base, ROUTER_PORTFORWARD_NAMESPACES: 'team-a', ROUTER_BIND_ADDRESSES: address }),
        ).toThrow(/ROUTER_BIND_ADDRESSES: .* is where kubectl port-forward arrives/);
      },
    );

    test('a bracketed ROUTER_HOST is read as the address inside the brackets', () => {
      expect(() =>
        loadConfig({ ...base, ROUTER_PORTFORWARD_NAMESPACES: 'team-a', ROUTER_HOST: '[::1]' }),
      ).toThrow(/ROUTER_BIND_ADDRESSES: \[::1\] is where kubectl port-forward arrives/);
      const c = loadConfig({ ROUTER_AUTH_MODE: 'kubernetes', ROUTER_HOST: '[::1]' });
      expect(c.transport).toEqual({ kind: 'plaintext', reason: 'loopback' });
    });

    test('another loopback address is a network address like any (a router outside a pod)', () => {
      const c = loadConfig({
        ROUTER_AUTH_MODE: 'kubernetes',
        ROUTER_PORTFORWARD_NAMESPACES: 'team-a',
        ROUTER_BIND_ADDRESSES: '127.0.0.2',
      });
      expect(c.networkHosts).toEqual(['127.0.0.2']);
      expect(c.transport).toEqual({ kind: 'plaintext', reason: 'loopback' });
    });

    test('bind addresses are IP literals; namespaces are names, inside ROUTER_NAMESPACES when it is set', () => {
      expect(() => loadConfig({ ...base, ROUTER_BIND_ADDRESSES: 'router.local' })).toThrow(
        /ROUTER_BIND_ADDRESSES: router\.local is not an IP address/,
      );
      expect(() =>
        loadConfig({ ...base, ROUTER_PORTFORWARD_NAMESPACES: 'Team_A', ROUTER_BIND_ADDRESSES: '10.0.0.5' }),
      ).toThrow(/ROUTER_PORTFORWARD_NAMESPACES\.0: not a namespace name/);
      expect(() =>
        loadConfig({
          ...base,
          ROUTER_NAMESPACES: 'team-a',
          ROUTER_PORTFORWARD_NAMESPACES: 'team-a,team-b',
          ROUTER_BIND_ADDRESSES: '10.0.0.5',
        }),
      ).toThrow(/ROUTER_PORTFORWARD_NAMESPACES: team-b is not in ROUTER_NAMESPACES/);
    });

    test('plain HTTP on the pod addresses still needs TLS or the explicit opt-out', () => {
      expect(() =>
        loadConfig({
          ROUTER_AUTH_MODE: 'kubernetes',
          ROUTER_PORTFORWARD_NAMESPACES: 'team-a',
          ROUTER_BIND_ADDRESSES: '10.0.0.5',
        }),
      ).toThrow(/ROUTER_TLS_CERT_FILE: required/);
    });
  });
});
