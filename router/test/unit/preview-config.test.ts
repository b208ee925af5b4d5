/** ROUTER_PREVIEW_* and ROUTER_PORT_*: signed preview keys by id, link lifetimes, port route limits. */
import { ConfigError, loadConfig } from '../../src/index.js';

const base = { ROUTER_AUTH_MODE: 'none', ROUTER_HOST: '127.0.0.1' };
const noText = (): string => {
  throw new Error('no text file here');
};

/** loadConfig over an in-memory keys directory `/keys`. */
function withKeys(env: Record<string, string>, files: Record<string, Buffer>) {
  return loadConfig(
    { ...base, ROUTER_PREVIEW_KEYS_DIR: '/keys', ...env },
    noText,
    (dir) => (dir === '/keys' ? Object.keys(files) : []),
    (path) => {
      const hit = files[path.replace(/^\/keys\//, '')];
      if (hit === undefined) throw new Error(`ENOENT ${path}`);
      return hit;
    },
  );
}

describe('preview link configuration', () => {
  test('off by default; link lifetimes default to 15 min and 24 h; port route limits', () => {
    const c = loadConfig(base);
    expect(c.previews).toEqual({ keys: undefined, defaultTtlSeconds: 900, maxTtlSeconds: 86_400 });
    expect(c.limits).toMatchObject({ portIdleTimeoutMs: 300_000, portMaxResponseHeaderBytes: 32 * 1024 });
    expect(() => loadConfig({ ...base, ROUTER_PREVIEW_MAX_TTL_SECONDS: '86401' })).toThrow(
      /ROUTER_PREVIEW_MAX_TTL_SECONDS/,
    );
    expect(() =>
      loadConfig({
        ...base,
        ROUTER_PREVIEW_DEFAULT_TTL_SECONDS: '600',
        ROUTER_PREVIEW_MAX_TTL_SECONDS: '60',
      }),
    ).toThrow(/ROUTER_PREVIEW_DEFAULT_TTL_SECONDS: 600 is over/);
  });

  test('one key signs by default; its bytes are kept as they are', () => {
    const key = Buffer.alloc(32, 0x0a);
    const c = withKeys({}, { '2026-12': key, '..data': Buffer.alloc(1) });
    expect(c.previews.keys?.signingKeyId).toBe('2026-12');
    expect(c.previews.keys?.keys.get('2026-12')?.equals(key)).toBe(true);
    expect(c.previews.keys?.keys.size).toBe(1);
  });

  test('several keys (a rotation) need the signing key named, and it must be one of them', () => {
    const files = { old: Buffer.alloc(32, 1), new: Buffer.alloc(32, 2) };
    expect(() => withKeys({}, files)).toThrow(/ROUTER_PREVIEW_SIGNING_KEY_ID: required when .* holds 2 keys/);
    expect(withKeys({ ROUTER_PREVIEW_SIGNING_KEY_ID: 'new' }, files).previews.keys?.signingKeyId).toBe('new');
    expect(() => withKeys({ ROUTER_PREVIEW_SIGNING_KEY_ID: 'other' }, files)).toThrow(
      /ROUTER_PREVIEW_KEYS_DIR: other: the signing key is not among the keys/,
    );
  });

  test('an empty keys directory (the optional Secret not created) leaves previews off', () => {
    const c = withKeys({}, { '..data': Buffer.alloc(1) });
    expect(c.previews).toEqual({ keys: undefined, defaultTtlSeconds: 900, maxTtlSeconds: 86_400 });
    // a named signing key says previews were meant to be on: its absence is an error
    expect(() => withKeys({ ROUTER_PREVIEW_SIGNING_KEY_ID: 'k' }, {})).toThrow(
      /ROUTER_PREVIEW_KEYS_DIR: k: the signing key is not among the keys/,
    );
  });

  test('a short key, or a signing key id without keys, is refused at startup', () => {
    expect(() => withKeys({}, { k: Buffer.alloc(31) })).toThrow(/k: a key needs at least 32 bytes/);
    expect(() => loadConfig({ ...base, ROUTER_PREVIEW_SIGNING_KEY_ID: 'k' })).toThrow(ConfigError);
  });
});
