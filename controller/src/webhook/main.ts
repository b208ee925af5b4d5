/**
 * The conversion webhook as its own process (Deployment `sandbank-webhook`, the controller's
 * image, `webhook.mjs`): config → serving certificate → HTTPS on WEBHOOK_PORT → the CRDs
 * pointed at it (every replica, repaired every 5 minutes) → /healthz, /readyz, /metrics on
 * HTTP_PORT → SIGTERM: not ready at once, then stop accepting and finish the reviews in flight.
 *
 * No informers and no leader election: conversion is on the path of every v1alpha1 read and
 * write in the cluster (and of every LIST of a kind with objects still stored in v1alpha1), so it
 * must not wait for caches nor restart with the controller. Exits 2 naming the cause when it
 * cannot serve (invalid configuration, no certificate, port taken, CRDs not patchable). It reads
 * only its own and the shared variables (config.ts), so no controller setting can stop it.
 */
import { createKubeClient, loadKubeConfig } from '@sandbank/kube';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ConfigError, loadWebhookConfig } from '../config.js';
import { createLogger } from '../observability/logger.js';
import { buildHealthServer } from '../server.js';
import { convert } from './converter.js';
import { createWebhookMetrics } from './metrics.js';
import { startWebhook, WebhookStartError } from './start.js';

/**
 * Between SIGTERM and closing the listener: the pod is already not ready, and the endpoint's
 * removal needs a moment to reach every node's proxy; a review sent there meanwhile still lands.
 */
const DRAIN_DELAY_MS = 3_000;

async function main(): Promise<number> {
  let config;
  try {
    config = loadWebhookConfig(process.env, process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`sandbank-webhook: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const log = createLogger({ level: config.logLevel, bindings: { component: 'sandbank-webhook' } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  let webhook;
  try {
    webhook = await startWebhook({
      config: config.webhook,
      client: createKubeClient(loadKubeConfig(config.kubeconfig)),
      convert,
      log,
      metrics: createWebhookMetrics(registry),
      clusterDomain: config.clusterDomain,
    });
  } catch (error) {
    if (error instanceof WebhookStartError) {
      process.stderr.write(`sandbank-webhook: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  let stopping = false;
  const health = buildHealthServer({
    registry,
    readyz: () => (stopping ? { ready: false, reason: 'stopping' } : true),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      health.once('error', reject);
      health.listen(config.http.port, config.http.bindAddress, () => {
        health.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await webhook.stop();
    process.stderr.write(
      `sandbank-webhook: health listener on ${config.http.bindAddress}:${config.http.port}: ${String(error)}\n`,
    );
    return 2;
  }
  log.info({ healthPort: config.http.port }, 'webhook ready');

  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  stopping = true;
  log.info({ signal, drainMs: DRAIN_DELAY_MS }, 'stopping: not ready, then finishing reviews in flight');
  await new Promise((resolve) => setTimeout(resolve, DRAIN_DELAY_MS));
  await webhook.stop();
  await new Promise<void>((resolve) => {
    health.close(() => resolve());
    health.closeAllConnections();
  });
  log.info('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`sandbank-webhook: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
