// The conversion webhook's and storage migration's configuration: defaults, each variable, and
// errors that name the variable; and each process reading only its own variables (and the shared
// ones), so a bad setting of one never stops the other.
import { ConfigError, loadConfig, loadWebhookConfig } from '../../../src/config.js';

function problemsOf(
  env: Record<string, string>,
  load: (env: Record<string, string>) => unknown = loadWebhookConfig,
): readonly string[] {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('webhook configuration', () => {
  it('serves on 9443 with its own certificate behind the Service of its namespace by default', () => {
    expect(loadWebhookConfig({ POD_NAMESPACE: 'ops' }).webhook).toEqual({
      port: 9443,
      bindAddress: '0.0.0.0',
      cert: { mode: 'self', secret: { namespace: 'ops', name: 'sandbank-webhook-tls' } },
      target: { service: { namespace: 'ops', name: 'sandbank-webhook', port: 443, path: '/convert' } },
    });
    // Without POD_NAMESPACE: the namespace the CRD files name (CONVERSION_WEBHOOK).
    expect(loadWebhookConfig({}).webhook.target).toEqual({
      service: { namespace: 'sandbank-system', name: 'sandbank-webhook', port: 443, path: '/convert' },
    });
    expect(loadConfig({}).storageMigration).toBe('auto');
  });

  it('has no on/off switch any more: a leftover WEBHOOK (or --webhook) stops the process naming the Deployment', () => {
    const removed =
      "removed; the conversion webhook is its own process (the image's webhook.mjs, Deployment sandbank-webhook), which always serves";
    for (const value of ['on', 'off', 'auto'])
      expect(problemsOf({ WEBHOOK: value }, loadConfig)).toEqual([`WEBHOOK: ${removed}`]);
    expect(() => loadConfig({}, ['--webhook=on'])).toThrow(`--webhook=on: ${removed}`);
  });

  it('reads every variable', () => {
    const env = {
      POD_NAMESPACE: 'ops',
      WEBHOOK_PORT: '10443',
      WEBHOOK_BIND_ADDRESS: '127.0.0.1',
      WEBHOOK_CERT_MODE: 'files',
      WEBHOOK_CERT_DIR: '/certs',
      WEBHOOK_SECRET: 'other/tls',
      WEBHOOK_SERVICE: 'edge/conv',
      STORAGE_MIGRATION: 'off',
    };
    expect(loadWebhookConfig(env).webhook).toEqual({
      port: 10443,
      bindAddress: '127.0.0.1',
      cert: { mode: 'files', dir: '/certs' },
      target: { service: { namespace: 'edge', name: 'conv', port: 443, path: '/convert' } },
    });
    expect(loadWebhookConfig({ ...env, WEBHOOK_CERT_MODE: 'self' }).webhook.cert).toEqual({
      mode: 'self',
      secret: { namespace: 'other', name: 'tls' },
    });
    expect(loadConfig(env).storageMigration).toBe('off');
  });

  it('reads the shared variables in both processes', () => {
    const env = {
      KUBECONFIG: '/kube/config',
      HTTP_PORT: '9090',
      HTTP_BIND_ADDRESS: '127.0.0.1',
      LOG_LEVEL: 'debug',
      CLUSTER_DOMAIN: 'corp.example',
    };
    const shared = {
      kubeconfig: '/kube/config',
      http: { port: 9090, bindAddress: '127.0.0.1' },
      logLevel: 'debug',
      clusterDomain: 'corp.example',
    };
    expect(loadWebhookConfig(env)).toMatchObject(shared);
    expect(loadConfig(env)).toMatchObject(shared);
    expect(problemsOf({ HTTP_PORT: 'x' })).toEqual([
      'HTTP_PORT (--http-port): must be an integer from 0 to 65535 (got "x")',
    ]);
  });

  it("does not read the controller's own variables: garbage there leaves the webhook's config as it was", () => {
    const garbage = {
      WATCH_NAMESPACE: 'Not/A Namespace',
      CONTROLLER_WORKERS: 'garbage',
      LEADER_ELECTION_RENEW_DEADLINE_MS: 'garbage',
      ROUTER_NAMESPACES: ',,',
      SANDBOX_ALLOWED_CAPABILITIES: 'ALL',
      AGENT_KEY_SECRET: 'a/b/c',
      STORAGE_MIGRATION: 'garbage',
      ROUTER_NAMESPACE: 'old',
      WEBHOOK: 'off',
    };
    expect(loadWebhookConfig({ POD_NAMESPACE: 'ops', ...garbage })).toEqual(
      loadWebhookConfig({ POD_NAMESPACE: 'ops' }),
    );
    // Its flags are not the webhook's.
    expect(() => loadWebhookConfig({}, ['--controller-workers=4'])).toThrow(
      '--controller-workers=4: unknown argument',
    );
  });

  it("the controller does not read the webhook's variables", () => {
    const garbage = {
      WEBHOOK_PORT: 'garbage',
      WEBHOOK_BIND_ADDRESS: '',
      WEBHOOK_CERT_MODE: 'files',
      WEBHOOK_SECRET: 'a/b/c',
      WEBHOOK_SERVICE: 'ns/my.svc',
      WEBHOOK_URL: 'http://127.0.0.1:1/convert',
    };
    expect(loadConfig({ POD_NAMESPACE: 'ops', ...garbage })).toEqual(loadConfig({ POD_NAMESPACE: 'ops' }));
    expect(() => loadConfig({}, ['--webhook-port=9443'])).toThrow('--webhook-port=9443: unknown argument');
  });

  it('lets WEBHOOK_URL win over the Service', () => {
    expect(
      loadWebhookConfig({ WEBHOOK_SERVICE: 'a/b', WEBHOOK_URL: 'https://127.0.0.1:4443/convert' }).webhook
        .target,
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
  ])('refuses %j, naming the variable', (env, problem) => {
    expect(problemsOf(env)).toEqual([problem]);
  });

  it('the controller refuses a bad STORAGE_MIGRATION, naming it', () => {
    expect(problemsOf({ STORAGE_MIGRATION: 'always' }, loadConfig)).toEqual([
      'STORAGE_MIGRATION (--storage-migration): must be auto or off (got "always")',
    ]);
  });
});
