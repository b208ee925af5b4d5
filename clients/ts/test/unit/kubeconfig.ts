/** A kubeconfig for a loopback API server that unit tests start: one cluster, one user, one context. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes `dir/<file>` (default `kubeconfig`) naming `server`, whose user presents `user`: a bearer
 * token, or a kubeconfig user entry (e.g. a client certificate); returns its path.
 */
export function writeKubeconfig(
  dir: string,
  server: string,
  user: string | Readonly<Record<string, string>> = {},
  file = 'kubeconfig',
): string {
  const kubeconfig = join(dir, file);
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node takes a plain-http server only with this flag (there is no TLS to skip).
      clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'me', user: typeof user === 'string' ? { token: user } : user }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'me' } }],
      'current-context': 'fake',
    }),
  );
  return kubeconfig;
}
