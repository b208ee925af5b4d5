// Shared by the controller's integration suites: a namespace per suite, a log sink, the controller.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { NAMESPACES } from '@sandbank/kube';
import type { KubeClient } from '@sandbank/kube';
import { ensureRuntimeClass } from '@sandbank/testing';
import { buildControllerApp, type ControllerApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';

/** Creates a fresh namespace `<prefix>-xxxxx`; delete it with `deleteNamespace`. */
export const createNamespace = async (client: KubeClient, prefix: string): Promise<string> =>
  (await client.create(NAMESPACES, '', { metadata: { generateName: `${prefix}-` } })).metadata.name;

export async function deleteNamespace(client: KubeClient, name: string | undefined): Promise<void> {
  if (name) await client.delete(NAMESPACES, '', name);
}

export interface LogCapture {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
}

/** A JSON logger whose lines are kept for assertions (and printed with SANDBANK_TEST_LOGS=1). */
export function captureLogs(): LogCapture {
  const lines: Record<string, unknown>[] = [];
  const echo = process.env['SANDBANK_TEST_LOGS'] === '1';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const line = chunk.toString();
      if (echo) process.stderr.write(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination: sink }), lines };
}

export interface InProcessController {
  /** WATCH_NAMESPACE: one namespace or a comma-separated list. */
  readonly watchNamespace: string;
  readonly log?: Logger;
  /** Pods get credentials from this key; a random one when the test does not read them. */
  readonly agentKey?: Buffer;
}

/**
 * The controller in-process against the integration API server, leader election off, started
 * once the RuntimeClass its templates name exists (kwok runs no containers: only the name matters).
 */
export async function startControllerInProcess(
  kc: KubeConfig,
  options: InProcessController,
): Promise<ControllerApp> {
  await ensureRuntimeClass(kc);
  const app = buildControllerApp({
    kubeConfig: kc,
    config: loadConfig({
      WATCH_NAMESPACE: options.watchNamespace,
      LEADER_ELECT: 'false',
      LOG_LEVEL: 'silent',
      ROUTER_NAMESPACES: 'sandbank-system',
    }),
    log: options.log ?? createLogger({ level: 'silent' }),
    metrics: createMetrics({ defaultMetrics: false }),
    agentKey: options.agentKey ?? randomBytes(32),
  });
  await app.manager.start();
  return app;
}
