/**
 * The router process: parse the configuration (refusing to start without an auth mode), build
 * the caches and the app, listen, and drain on SIGTERM/SIGINT.
 */
import { createServer } from 'node:http';
import { ServerCredentials } from '@grpc/grpc-js';
import { buildRouterApp } from './app.js';
import { kubernetesAuthenticator, noAuthenticator, tokenAuthenticator } from './auth/index.js';
import type { Authenticator } from './auth/index.js';
import { ConfigError, loadConfig } from './config.js';
import type { RouterConfig } from './config.js';
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
      return tokenAuthenticator(config.auth.token, metrics);
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
      return noAuthenticator(metrics);
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
    agentToken: config.agentToken,
    log,
    metrics,
    serveMetrics: config.metricsPort === 0,
  });

  await new Promise<void>((resolve) => app.server.listen(config.port, config.host, resolve));
  const grpcPort = await new Promise<number>((resolve, reject) =>
    app.grpcServer.bindAsync(
      `${config.host}:${config.grpcPort}`,
      ServerCredentials.createInsecure(),
      (err, port) => (err ? reject(err) : resolve(port)),
    ),
  );
  const metricsServer =
    config.metricsPort === 0
      ? undefined
      : createServer(app.metricsListener).listen(config.metricsPort, config.host);
  log.info(
    {
      http: config.port,
      grpc: grpcPort,
      metrics: config.metricsPort,
      auth: config.auth.mode,
      namespaces: config.namespaces,
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
      metricsServer?.close();
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
