/**
 * The conversion webhook alone, for control planes on loopback (the integration tests, the
 * benchmarks): a fresh CA and leaf for 127.0.0.1 and localhost, the CA written to
 * `$WEBHOOK_TLS_DIR/ca.crt`, HTTPS on 127.0.0.1 (port `$WEBHOOK_PORT`, default any free one).
 * The first stdout line is `{"port":N,"caFile":"…"}`; logs go to stderr. It exits when its stdin
 * closes (the parent stopped it or died) or on SIGTERM/SIGINT.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { z } from 'zod';
import { createLogger, LOG_LEVELS } from '../observability/logger.js';
import { issueCa, issueLeaf } from './certs.js';
import { convert } from './converter.js';
import { buildWebhookServer } from './server.js';

const Env = z.object({
  WEBHOOK_TLS_DIR: z.string().min(1, 'WEBHOOK_TLS_DIR: a directory for ca.crt is required'),
  WEBHOOK_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('warn'),
});

const parsed = Env.safeParse(process.env);
if (!parsed.success) {
  process.stderr.write(`${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')}\n`);
  process.exit(2);
}
const env = parsed.data;
const log = createLogger({
  level: env.LOG_LEVEL,
  name: 'sandbank-conversion-webhook',
  destination: pino.destination({ dest: 2, sync: true }),
});
const now = new Date();
const ca = issueCa(now);
const leaf = issueLeaf(ca, ['127.0.0.1', 'localhost'], now);
const caFile = join(env.WEBHOOK_TLS_DIR, 'ca.crt');
writeFileSync(caFile, ca.certPem);

const server = buildWebhookServer({
  tls: { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem },
  convert,
  log,
});
const shutdown = (why: string): void => {
  log.info({ why }, 'stopping');
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
server.listen(env.WEBHOOK_PORT, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.WEBHOOK_PORT;
  process.stdout.write(`${JSON.stringify({ port, caFile })}\n`);
});
server.on('error', (err) => {
  log.error({ err }, 'webhook server failed');
  process.exit(2);
});
process.stdin.on('end', () => shutdown('stdin closed'));
process.stdin.on('error', () => shutdown('stdin failed'));
process.stdin.resume();
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
