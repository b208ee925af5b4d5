// Shared by the controller's integration suites: a namespace per suite and a log sink.
import { Writable } from 'node:stream';
import { NAMESPACES } from '@sandbank/kube';
import type { KubeClient } from '@sandbank/kube';
import { createLogger, type Logger } from '../../src/observability/logger.js';

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
