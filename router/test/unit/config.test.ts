import { ConfigError, loadConfig } from '../../src/index.js';

describe('loadConfig', () => {
  test('refuses to start without an auth mode', () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    expect(() => loadConfig({})).toThrow(/ROUTER_AUTH_MODE: required/);
  });

  test('token mode needs a token, preferably from a file', () => {
    expect(() => loadConfig({ ROUTER_AUTH_MODE: 'token' })).toThrow(/token mode needs a token/);
    const c = loadConfig(
      { ROUTER_AUTH_MODE: 'token', ROUTER_AUTH_TOKEN_FILE: '/secret' },
      () => 'a-token-of-16-chars!\n',
    );
    expect(c.auth).toEqual({ mode: 'token', token: 'a-token-of-16-chars!' });
  });

  test('defaults, and errors that name the variable', () => {
    const c = loadConfig({ ROUTER_AUTH_MODE: 'none' });
    expect(c).toMatchObject({ port: 8080, grpcPort: 8081, metricsPort: 9090, namespaces: [] });
    expect(c.limits).toMatchObject({
      requestTimeoutMs: 180_000,
      maxStreamsPerCaller: 64,
      wsMaxMessageBytes: 16 * 1024 * 1024,
    });
    expect(c.agent).toEqual({ grpcPort: 8889, legacyPort: 8888 });
    expect(() => loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_PORT: 'eighty' })).toThrow(/ROUTER_PORT: /);
    expect(() => loadConfig({ ROUTER_AUTH_MODE: 'open' })).toThrow(/ROUTER_AUTH_MODE: /);
    expect(loadConfig({ ROUTER_AUTH_MODE: 'kubernetes', ROUTER_NAMESPACES: 'a, b' })).toMatchObject({
      namespaces: ['a', 'b'],
      auth: { mode: 'kubernetes', cacheTtlMs: 10_000 },
    });
  });
});
