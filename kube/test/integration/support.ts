// Shared by this package's integration suites: a namespace per suite and a log that keeps its lines.
import { NAMESPACES } from '../../src/resources.js';
import type { Logger } from '../../src/logger.js';
import type { KubeClient } from '../../src/types.js';

/** Creates a fresh namespace `<prefix>-xxxxx`; delete it with `deleteNamespace`. */
export const createNamespace = async (client: KubeClient, prefix: string): Promise<string> =>
  (await client.create(NAMESPACES, '', { metadata: { generateName: `${prefix}-` } })).metadata.name;

export const deleteNamespace = (client: KubeClient, name: string): Promise<boolean> =>
  client.delete(NAMESPACES, '', name);

/**
 * A logger whose lines are kept for assertions (and printed with SANDBANK_TEST_LOGS=1): one
 * record per line, with the bindings of its logger, its fields, `level` and `msg`.
 */
export function captureLogs(): { readonly log: Logger; readonly lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = (bindings: Record<string, unknown>): Logger => {
    const at =
      (level: string) =>
      (fields: object, msg: string): void => {
        const line = { ...bindings, ...fields, level, msg };
        if (process.env['SANDBANK_TEST_LOGS'] === '1') process.stderr.write(`${JSON.stringify(line)}\n`);
        lines.push(line);
      };
    return {
      child: (more) => logger({ ...bindings, ...more }),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    };
  };
  return { log: logger({}), lines };
}
