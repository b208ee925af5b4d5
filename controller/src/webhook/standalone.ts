/**
 * The conversion webhook alone, for control planes without cluster networking (the integration
 * tests' API server on loopback, the kwok stack): url mode on 127.0.0.1.
 *
 *   standalone.ts --dir=<dir> [--port=<n>] [--kubeconfig=<file>]
 *
 * Writes a fresh CA and serving leaf (127.0.0.1, localhost) into <dir> (ca.crt, tls.crt,
 * tls.key), listens on 127.0.0.1:<port> (default 0: any free port) and prints one JSON line on
 * stdout: {"port", "url", "caFile"}. With --kubeconfig it also points Sandbank's CRDs at itself
 * (every 5 minutes, so a test that re-applies them is repaired). It exits when its parent
 * process is gone, so a killed test run leaves nothing listening.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createKubeClient, loadKubeConfig } from '@sandbank/kube';
import { z } from 'zod';
import { createLogger } from '../observability/logger.js';
import { issueCa, issueLeaf } from './certs.js';
import { convert } from './converter.js';
import { CRD_REPAIR_INTERVAL_MS, ensureCrdConversion, repeatEvery } from './crd-conversion.js';
import { buildWebhookServer } from './server.js';

const Args = z.object({
  dir: z.string().min(1, 'is required'),
  port: z.coerce.number().int().min(0).max(65_535).default(0),
  kubeconfig: z.string().min(1).optional(),
});

function parseArgs(argv: readonly string[]): z.infer<typeof Args> {
  const raw: Record<string, string> = {};
  for (const arg of argv) {
    const m = /^--(dir|port|kubeconfig)=(.*)$/.exec(arg);
    if (m?.[1] === undefined || m[2] === undefined)
      throw new Error(`${arg}: unknown argument (--dir=, --port=, --kubeconfig=)`);
    raw[m[1]] = m[2];
  }
  const parsed = Args.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`--${String(issue?.path[0] ?? '?')}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = createLogger({
    level: process.env['LOG_LEVEL'] === undefined ? 'warn' : 'info',
    bindings: { component: 'sandbank-webhook-standalone' },
  });
  const dir = resolve(args.dir);
  await mkdir(dir, { recursive: true });
  const now = new Date();
  const ca = issueCa(now);
  const leaf = issueLeaf(ca, ['127.0.0.1', 'localhost'], now);
  await Promise.all([
    writeFile(join(dir, 'ca.crt'), ca.certPem),
    writeFile(join(dir, 'tls.crt'), leaf.certPem),
    writeFile(join(dir, 'tls.key'), leaf.keyPem, { mode: 0o600 }),
  ]);
  const server = buildWebhookServer({ tls: { caPem: ca.certPem, ...leaf }, convert, log });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(args.port, '127.0.0.1', done);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}/convert`;

  if (args.kubeconfig !== undefined) {
    const client = createKubeClient(loadKubeConfig(args.kubeconfig));
    const round = async (): Promise<void> => {
      await ensureCrdConversion(client, { target: { url }, caPem: ca.certPem, log });
    };
    await round();
    repeatEvery(CRD_REPAIR_INTERVAL_MS, round, log, 'CRD conversion check');
  }
  process.stdout.write(`${JSON.stringify({ pid: process.pid, port, url, caFile: join(dir, 'ca.crt') })}\n`);

  // Reparented (the parent died): nothing should keep serving for a test run that is gone.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1_000);
  process.once('SIGTERM', () => process.exit(0));
  process.once('SIGINT', () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`sandbank-webhook: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
