/**
 * The router process: parse the configuration (refusing to start without an auth mode, or in
 * plaintext beyond loopback without the explicit opt-out), build the caches and the app, listen
 * (listen.ts: TLS when configured), and drain on SIGTERM/SIGINT.
 */
import { buildRouterApp } from './app.js';
import { describeScope, kubernetesAuthenticator, noAuthenticator, tokenAuthenticator } from './auth/index.js';
import type { Authenticator } from './auth/index.js';
import { ConfigError, loadConfig } from './config.js';
import type { RouterConfig } from './config.js';
import { listenRouter } from './listen.js';
import { createLogger } from './observability/logger.js';
import type { Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import type { RouterMetrics } from './observability/metrics.js';
import { installPropagator } from './observability/tracing.js';
import { createAccessReviewer, createClusterLookup, loadKubeConfig } from './resolve/index.js';
import type { KubeConfig } from './resolve/index.js';

function authenticator(
  config: RouterConfig,
  kc: KubeConfig,
  metrics: RouterMetrics,
  log: Logger,
): Authenticator {
  switch (config.auth.mode) {
    case 'token':
      return tokenAuthenticator(config.auth.tokens, metrics);
    case 'kubernetes':
      return kubernetesAuthenticator({
        reviewer: createAccessReviewer(kc),
        ttlMs: config.auth.cacheTtlMs,
        metrics,
      });
    case 'none':
      log.warn(
        'ROUTER_AUTH_MODE=none: EVERY CLIENT THAT CAN REACH THIS ROUTER CAN RUN CODE IN EVERY SANDBOX. Development only.',
      );
      return noAuthenticator();
  }
}

async function main(): Promise<void> {
  let config: RouterConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`sandbank-router: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  installPropagator();
  const metrics = createMetrics({ defaultMetrics: true });
  const kc = loadKubeConfig();
  const lookup = createClusterLookup({ kc, namespaces: config.namespaces, log });
  const app = buildRouterApp({
    auth: authenticator(config, kc, metrics, log),
    lookup,
    limits: config.limits,
    agentPorts: config.agent,
    agentKey: config.agentKey,
    log,
    metrics,
    serveMetrics: config.metricsPort === 0,
    tls: config.transport.kind === 'tls' ? config.transport.material : undefined,
    portForward: config.portForward,
    previews: config.previews,
  });

  const listeners = await listenRouter(app, {
    host: config.host,
    networkHosts: config.networkHosts,
    portForward: config.portForward !== undefined,
    port: config.port,
    grpcPort: config.grpcPort,
    metricsPort: config.metricsPort,
    transport: config.transport,
    log,
  });
  log.info(
    {
      http: listeners.httpPort,
      grpc: listeners.grpcPort,
      metrics: listeners.metricsPort ?? 0,
      tls: listeners.tls,
      auth: config.auth.mode,
      namespaces: config.namespaces,
      addresses: config.networkHosts,
      portForward:
        config.portForward === undefined
          ? 'off'
          : { addresses: listeners.portForwardAddresses, namespaces: config.portForward.namespaces },
      agentKey: config.agentKey === undefined ? 'none' : 'configured',
      previewLinks:
        config.previews.keys === undefined ? 'off' : { signingKeyId: config.previews.keys.signingKeyId },
      // Each token's namespaces (never the token), so an operator sees what each tenant reaches.
      ...(config.auth.mode === 'token'
        ? {
            tokens: Object.fromEntries(
              Object.entries(config.auth.tokens).map(([name, grant]) => [
                name,
                describeScope(grant.namespaces),
              ]),
            ),
          }
        : {}),
    },
    'sandbank router listening',
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    (async () => {
      await app.close();
      await listeners.close();
      await lookup.close();
      log.info('stopped');
      process.exit(0);
    })().catch((err: unknown) => {
      log.error({ err }, 'could not drain; exiting');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(
    `sandbank-router: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
