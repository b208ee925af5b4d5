/**
 * The conversion webhook as its process runs it (webhook/main.ts), on every replica and with no
 * leader election: serving certificate (self-managed or from files), HTTPS listener, the CRDs pointed
 * at it, and two loops that keep it so (certificate re-read every minute and swapped in place,
 * CRDs re-checked every 5 minutes or at once when the CA changed).
 */
import type { Server } from 'node:https';
import type { KubeClient } from '@sandbank/kube';
import type { WebhookConfig } from '../config.js';
import type { Logger } from '../observability/logger.js';
import { ensureWebhookTls, readTlsFiles, servingNames, type WebhookTls } from './certs.js';
import { CRD_REPAIR_INTERVAL_MS, ensureCrdConversion, repeatEvery } from './crd-conversion.js';
import type { WebhookMetrics } from './metrics.js';
import type { Converter } from './review.js';
import { buildWebhookServer, reloadTls } from './server.js';

export const TLS_REFRESH_INTERVAL_MS = 60_000;

/** The webhook cannot serve; the message names the cause. The controller exits 2. */
export class WebhookStartError extends Error {
  override readonly name = 'WebhookStartError';
}

export interface StartWebhookOptions {
  readonly config: WebhookConfig;
  readonly client: KubeClient;
  readonly convert: Converter;
  readonly log: Logger;
  readonly metrics?: WebhookMetrics;
  readonly clusterDomain?: string;
}

export interface RunningWebhook {
  readonly server: Server;
  stop(): Promise<void>;
}

export async function startWebhook(opts: StartWebhookOptions): Promise<RunningWebhook> {
  const { config, client } = opts;
  const log = opts.log.child({ component: 'conversion-webhook' });
  const names = servingNames(config.target, opts.clusterDomain);
  const { cert } = config;
  const loadTls = async (): Promise<WebhookTls> =>
    cert.mode === 'files'
      ? readTlsFiles(cert.dir)
      : (await ensureWebhookTls(client, cert.secret, names, { log })).tls;

  let tls: WebhookTls;
  try {
    tls = await loadTls();
  } catch (error) {
    throw new WebhookStartError(
      `serving certificate: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const server = buildWebhookServer({
    tls,
    convert: opts.convert,
    log,
    ...(opts.metrics === undefined ? {} : { metrics: opts.metrics }),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.bindAddress, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    throw new WebhookStartError(`listen on ${config.bindAddress}:${config.port}: ${String(error)}`);
  }
  server.on('error', (err) => log.error({ err }, 'webhook server error'));

  const patchCrds = async (): Promise<void> => {
    const results = await ensureCrdConversion(client, { target: config.target, caPem: tls.caPem, log });
    log.debug({ results }, 'CRD conversion checked');
  };
  try {
    await patchCrds();
  } catch (error) {
    server.close();
    throw new WebhookStartError(error instanceof Error ? error.message : String(error));
  }

  const crdLoop = repeatEvery(CRD_REPAIR_INTERVAL_MS, patchCrds, log, 'CRD conversion check');
  const tlsLoop = repeatEvery(
    TLS_REFRESH_INTERVAL_MS,
    async () => {
      const next = await loadTls();
      if (next.certPem === tls.certPem && next.keyPem === tls.keyPem && next.caPem === tls.caPem) return;
      const caChanged = next.caPem !== tls.caPem;
      tls = next;
      reloadTls(server, next);
      log.info({ caChanged }, 'webhook serving certificate reloaded');
      if (caChanged) await patchCrds();
    },
    log,
    'webhook certificate refresh',
  );
  log.info({ port: config.port, certMode: cert.mode, target: config.target }, 'conversion webhook serving');
  return {
    server,
    /** Stops accepting; resolves once every review in flight is answered. */
    async stop() {
      crdLoop.stop();
      tlsLoop.stop();
      // A keep-alive connection that goes idle after close() would hold it until its timeout.
      const sweep = setInterval(() => server.closeIdleConnections(), 500);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      clearInterval(sweep);
    },
  };
}
