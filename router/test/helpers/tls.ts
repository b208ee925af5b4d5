/**
 * TLS material for the router's tests, made by the very function `make up` uses for the local
 * cluster (e2e/cluster/lib/router-tls.sh, openssl): a CA and a serving certificate for the router
 * Service's names, localhost, 127.0.0.1, ::1 and the given IPs. So the tests also prove that what
 * the cluster scripts generate is what the router and its clients accept.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const LIB = fileURLToPath(new URL('../../../e2e/cluster/lib', import.meta.url));

export interface RouterTls {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** "created" or "reused", as router_tls_ensure printed it. */
  readonly outcome: string;
  ca(): Buffer;
  cert(): Buffer;
  key(): Buffer;
}

/** router_tls_ensure <dir> <ip>... : creates (or reuses) the CA and the serving certificate in `dir`. */
export async function routerTls(dir: string, ips: readonly string[] = []): Promise<RouterTls> {
  const { stdout } = await run(
    'bash',
    ['-c', '. "$0/common.sh" && . "$0/router-tls.sh" && router_tls_ensure "$@"', LIB, dir, ...ips],
    { timeout: 60_000 },
  );
  const file = (name: string): string => join(dir, name);
  return {
    dir,
    caFile: file('ca.crt'),
    certFile: file('tls.crt'),
    keyFile: file('tls.key'),
    outcome: stdout.trim(),
    ca: () => readFileSync(file('ca.crt')),
    cert: () => readFileSync(file('tls.crt')),
    key: () => readFileSync(file('tls.key')),
  };
}
