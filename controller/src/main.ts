/**
 * The controller process: config → agent key → controller app → health/metrics server →
 * signals (→ storage migration once leading). The conversion webhook is not served here: it is
 * its own Deployment (webhook/main.ts), so a controller restart never takes v1alpha1 down.
 * Exits non-zero when leadership is lost (the Deployment restarts it into a fresh campaign), the
 * configuration is invalid (with one line per problem, no stack trace), the agent key cannot
 * be read or made (a Secret with a short key, no RBAC for it).
 */
import { AgentKeyError, ensureAgentKey } from './agent-credentials.js';
import { buildControllerApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { SANDBANK_CRDS } from './crds.js';
import { createKubeClient, loadKubeConfig } from '@sandbank/kube';
import { createLogger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import { buildHealthServer } from './server.js';
import { migrateWhenLeading } from './storage-migration.js';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.env, process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`sandbank-controller: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const log = createLogger({
    level: config.logLevel,
    bindings: { component: 'sandbank-controller', identity: config.leaderElection.identity },
  });
  const metrics = createMetrics();
  const kubeConfig = loadKubeConfig(config.kubeconfig);
  // One client for what main does itself (agent key, storage migration). The app builds its own
  // on the same connections (one transport per KubeConfig): it wraps it so every Pod it writes
  // carries a credential from the agent key, which this client has to read first.
  const client = createKubeClient(kubeConfig);
  // Before anything reconciles: no pod may be made without a credential from this key.
  let agentKey: Buffer;
  try {
    const secret = config.agentKeySecret;
    const ensured = await ensureAgentKey(client, secret, { log });
    agentKey = ensured.key;
    log.info(
      { secret: `${secret.namespace}/${secret.name}`, created: ensured.created },
      ensured.created ? 'agent key created' : 'agent key read',
    );
  } catch (error) {
    if (error instanceof AgentKeyError) {
      process.stderr.write(`sandbank-controller: agent key: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const app = buildControllerApp({ kubeConfig, config, log, metrics, agentKey });
  const server = buildHealthServer({
    registry: metrics.registry,
    readyz: () => app.manager.readyz(),
    healthz: () => app.manager.healthz(),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.bindAddress, resolve);
  });
  log.info(
    {
      port: config.http.port,
      namespaces: config.watchNamespaces.length > 0 ? config.watchNamespaces : '(all)',
    },
    'controller starting',
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: draining reconciles, releasing the lease');
    app.manager.stop().catch((err: unknown) => {
      // `done` never resolves after a failed stop: exit here rather than hang.
      log.error({ err }, 'stop failed');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  await app.manager.start();
  let stopMigration = (): void => {};
  if (config.storageMigration === 'off') {
    log.info('storage migration off (STORAGE_MIGRATION=off)');
  } else if (config.watchNamespaces.length > 0) {
    // Trimming storedVersions is only right once every namespace's objects were rewritten.
    log.info('storage migration skipped: it needs a cluster-wide list (see docs/conversion-webhook.md)');
  } else {
    stopMigration = migrateWhenLeading({
      client,
      crds: SANDBANK_CRDS,
      isLeader: () => app.manager.isLeader(),
      log,
    });
  }
  const end = await app.manager.done;
  stopMigration();
  server.close();
  if (end === 'lost-leadership') {
    log.error('lost leadership; exiting so a fresh process campaigns again');
    return 1;
  }
  log.info('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`sandbank-controller: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
