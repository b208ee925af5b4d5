/**
 * Which CA verifies the router over https/wss (router-agents.ts makes the agents that carry it).
 * Checked, first found: the `caFile` option, `$SANDBANK_CA_FILE`, `$NODE_EXTRA_CA_CERTS` (Node adds it to
 * its default store itself), else Node's public CAs. Verification is never switched off.
 */
import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../client-errors.js';

export const CA_FILE_ENV = 'SANDBANK_CA_FILE';

/** What verifies the router: PEM text and where it came from (for messages), or Node's default store. */
export interface RouterTrust {
  readonly ca: string | undefined;
  /** How this was decided, for error messages. */
  readonly note: string;
}

/** The CA bundle named by the option or `$SANDBANK_CA_FILE`; Node's store (with `$NODE_EXTRA_CA_CERTS`) otherwise. */
export function trustFrom(caFile: string | undefined, env: NodeJS.ProcessEnv): RouterTrust {
  for (const [setting, path] of [
    ['caFile', caFile],
    [CA_FILE_ENV, env[CA_FILE_ENV]],
  ] as const) {
    if (!path) continue;
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigurationError(
        `${setting}: cannot read the CA bundle ${JSON.stringify(path)}: ${reason}`,
      );
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigurationError(`${setting}: ${JSON.stringify(path)} holds no PEM certificate`);
    }
    return { ca: pem, note: `verified with ${setting} (${path})` };
  }
  return { ca: undefined, note: "verified with Node's CA store (and $NODE_EXTRA_CA_CERTS)" };
}
