/**
 * The route's pure decisions, as the Python client makes them: which mode, which token, when a
 * token may go over plain HTTP, and what dev mode's tunnel speaks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError, InsecureTransport } from '../../src/client-errors.js';
import { resolveToken, selectMode } from '../../src/route/mode.js';
import { tunnelTls } from '../../src/route/tunnel-tls.js';
import { allowInsecureFrom, checkPlainHttp, isLoopbackHost } from '../../src/transport/insecure.js';
import { trustFrom } from '../../src/transport/tls.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('selectMode', () => {
  test.each([
    [{ routerUrl: 'https://r.example', gatewayName: 'gw' }, 'direct'],
    [{ routerUrl: 'http://127.0.0.1:8080' }, 'direct'],
    [{ gatewayName: 'gw' }, 'gateway'],
    [{}, 'dev'],
    [{ routerUrl: '', gatewayName: '' }, 'dev'],
  ])('%j is %s', (options, mode) => {
    expect(selectMode(options)).toBe(mode);
  });

  test('a routerUrl without http(s):// is a ConfigurationError naming the option', () => {
    expect(() => selectMode({ routerUrl: 'r.example:443' })).toThrow(
      new ConfigurationError('routerUrl: must start with http:// or https://, got "r.example:443"'),
    );
  });
});

describe('resolveToken', () => {
  const secret = async (): Promise<string | undefined> => 'from-secret';

  test('the option wins, then $SANDBANK_ROUTER_TOKEN, then the Secret (dev mode only)', async () => {
    const env = { SANDBANK_ROUTER_TOKEN: 'from-env' };
    expect(await resolveToken('explicit', env, secret)).toBe('explicit');
    expect(await resolveToken(undefined, env, secret)).toBe('from-env');
    expect(await resolveToken(undefined, {}, secret)).toBe('from-secret');
    expect(await resolveToken(undefined, {}, undefined)).toBeUndefined();
  });

  test('an empty option, variable or Secret counts as none', async () => {
    expect(await resolveToken('', { SANDBANK_ROUTER_TOKEN: '' }, async () => '')).toBeUndefined();
  });

  test('the Secret is not read when a token is configured', async () => {
    let read = false;
    await resolveToken('explicit', {}, async () => {
      read = true;
      return 'x';
    });
    expect(read).toBe(false);
  });
});

describe('plain HTTP carries a token only to loopback', () => {
  test.each([
    ['localhost', true],
    ['LOCALHOST.', true],
    ['127.0.0.1', true],
    ['127.9.8.7', true],
    ['[::1]', true],
    ['[::ffff:7f00:1]', true],
    ['[0:0:0:0:0:0:0:1]', true],
    ['128.0.0.1', false],
    ['10.0.0.1', false],
    ['[::2]', false],
    ['127.0.0.1.nip.io', false],
    ['localhost.example.com', false],
    ['[::ffff:a00:1]', false],
  ])('%s → %s', (host, loopback) => {
    expect(isLoopbackHost(new URL(`http://${host}/`).hostname)).toBe(loopback);
  });

  test('a token to a remote http:// host is InsecureTransport; https, no token, or the override pass', () => {
    const remote = new URL('http://sandbank.example.com:8080');
    expect(() => checkPlainHttp(remote, 'tok', false, 'routerUrl')).toThrow(InsecureTransport);
    expect(() => checkPlainHttp(remote, 'tok', false, 'routerUrl')).toThrow(/^routerUrl: refusing to send/);
    expect(() => checkPlainHttp(remote, undefined, false, 'routerUrl')).not.toThrow();
    expect(() => checkPlainHttp(remote, 'tok', true, 'routerUrl')).not.toThrow();
    expect(() => checkPlainHttp(new URL('https://sandbank.example.com'), 'tok', false, 'x')).not.toThrow();
    expect(() => checkPlainHttp(new URL('http://127.0.0.1:1234'), 'tok', false, 'x')).not.toThrow();
  });

  test('$SANDBANK_ALLOW_INSECURE: yes/no words, anything else names the variable', () => {
    expect(allowInsecureFrom(undefined, { SANDBANK_ALLOW_INSECURE: 'TRUE' })).toBe(true);
    expect(allowInsecureFrom(undefined, { SANDBANK_ALLOW_INSECURE: '0' })).toBe(false);
    expect(allowInsecureFrom(undefined, {})).toBe(false);
    expect(allowInsecureFrom(true, { SANDBANK_ALLOW_INSECURE: 'no' })).toBe(true);
    expect(() => allowInsecureFrom(undefined, { SANDBANK_ALLOW_INSECURE: 'maybe' })).toThrow(
      /^SANDBANK_ALLOW_INSECURE: expected 1 or 0/,
    );
  });
});

describe('trust', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sandbank-trust-'));
    writeFileSync(join(dir, 'ca.pem'), PEM);
    writeFileSync(join(dir, 'not.pem'), 'hello');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('caFile wins over $SANDBANK_CA_FILE; an unusable file names the setting', () => {
    const env = { SANDBANK_CA_FILE: join(dir, 'missing.pem') };
    expect(trustFrom(join(dir, 'ca.pem'), env).ca).toBe(PEM);
    expect(() => trustFrom(undefined, env)).toThrow(/^SANDBANK_CA_FILE: cannot read the CA bundle/);
    expect(() => trustFrom(join(dir, 'not.pem'), {})).toThrow(/^caFile: .* holds no PEM certificate/);
    expect(trustFrom(undefined, {}).ca).toBeUndefined();
  });

  test("dev mode's tunnel: no TLS Secret is plain HTTP; its ca.crt verifies; caFile wins; unreadable is still https", () => {
    expect(tunnelTls('sys', { state: 'missing' }, undefined, {}).scheme).toBe('http');
    const withCa = tunnelTls('sys', { state: 'found', data: { 'ca.crt': Buffer.from(PEM) } }, undefined, {});
    expect(withCa).toEqual({
      scheme: 'https',
      trust: { ca: PEM, note: 'verified with ca.crt of Secret sys/sandbox-router-tls' },
    });
    const own = tunnelTls(
      'sys',
      { state: 'found', data: { 'ca.crt': Buffer.from('other') } },
      join(dir, 'ca.pem'),
      {},
    );
    expect(own.trust.ca).toBe(PEM);
    const forbidden = tunnelTls('sys', { state: 'forbidden', message: 'no' }, undefined, {});
    expect(forbidden.scheme).toBe('https');
    expect(forbidden.trust.note).toMatch(/could not be read with these credentials/);
    expect(tunnelTls('sys', { state: 'found', data: {} }, undefined, {}).trust.note).toMatch(
      /has no ca\.crt/,
    );
  });
});
