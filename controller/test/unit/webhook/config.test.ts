// The conversion webhook's and storage migration's configuration: defaults, each variable, and
// errors that name the variable.
import { ConfigError, loadConfig } from '../../../src/config.js';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('webhook configuration', () => {
  it('serves on 9443 with its own certificate behind the Service of its namespace by default', () => {
    expect(loadConfig({ POD_NAMESPACE: 'ops' }).webhook).toEqual({
      port: 9443,
      bindAddress: '0.0.0.0',
      certMode: 'self',
      certDir: undefined,
      secret: { namespace: 'ops', name: 'sandbank-webhook-tls' },
      target: { service: { namespace: 'ops', name: 'sandbank-webhook', port: 443, path: '/convert' } },
    });
    expect(loadConfig({}).storageMigration).toBe('auto');
  });

  it('has no on/off switch any more: a leftover WEBHOOK (or --webhook) stops the process naming the Deployment', () => {
    const removed =
      "removed; the conversion webhook is its own process (the image's webhook.mjs, Deployment sandbank-webhook), which always serves";
    for (const value of ['on', 'off', 'auto'])
      expect(problemsOf({ WEBHOOK: value })).toEqual([`WEBHOOK: ${removed}`]);
    expect(() => loadConfig({}, ['--webhook=on'])).toThrow(`--webhook=on: ${removed}`);
  });

  it('reads every variable', () => {
    const c = loadConfig({
      POD_NAMESPACE: 'ops',
      WEBHOOK_PORT: '10443',
      WEBHOOK_BIND_ADDRESS: '127.0.0.1',
      WEBHOOK_CERT_MODE: 'files',
      WEBHOOK_CERT_DIR: '/certs',
      WEBHOOK_SECRET: 'other/tls',
      WEBHOOK_SERVICE: 'edge/conv',
      STORAGE_MIGRATION: 'off',
    });
    expect(c.webhook).toEqual({
      port: 10443,
      bindAddress: '127.0.0.1',
      certMode: 'files',
      certDir: '/certs',
      secret: { namespace: 'other', name: 'tls' },
      target: { service: { namespace: 'edge', name: 'conv', port: 443, path: '/convert' } },
    });
    expect(c.storageMigration).toBe('off');
  });

  it('lets WEBHOOK_URL win over the Service', () => {
    expect(
      loadConfig({ WEBHOOK_SERVICE: 'a/b', WEBHOOK_URL: 'https://127.0.0.1:4443/convert' }).webhook.target,
    ).toEqual({ url: 'https://127.0.0.1:4443/convert' });
  });

  it.each([
    [{ WEBHOOK_PORT: '0' }, 'WEBHOOK_PORT (--webhook-port): must be an integer from 1 to 65535 (got "0")'],
    [
      { WEBHOOK_CERT_MODE: 'cert-manager' },
      'WEBHOOK_CERT_MODE (--webhook-cert-mode): must be self or files (got "cert-manager")',
    ],
    [
      { WEBHOOK_CERT_MODE: 'files' },
      'WEBHOOK_CERT_DIR (--webhook-cert-dir): must name the directory of tls.crt and tls.key when WEBHOOK_CERT_MODE is files',
    ],
    [
      { WEBHOOK_SECRET: 'a/b/c' },
      'WEBHOOK_SECRET (--webhook-secret): must be a Secret name, or namespace/name',
    ],
    [
      { WEBHOOK_SERVICE: 'ns/my.svc' },
      'WEBHOOK_SERVICE (--webhook-service): must be a Service name, or namespace/name',
    ],
    [
      { WEBHOOK_URL: 'http://127.0.0.1:9443/convert' },
      'WEBHOOK_URL (--webhook-url): must be an https:// URL with a host and no credentials, query or fragment',
    ],
    [
      { WEBHOOK_URL: 'https://u:p@host/convert' },
      'WEBHOOK_URL (--webhook-url): must be an https:// URL with a host and no credentials, query or fragment',
    ],
    [
      { STORAGE_MIGRATION: 'always' },
      'STORAGE_MIGRATION (--storage-migration): must be auto or off (got "always")',
    ],
  ])('refuses %j, naming the variable', (env, problem) => {
    expect(problemsOf(env)).toEqual([problem]);
  });
});
