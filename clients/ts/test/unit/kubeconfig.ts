/** A kubeconfig for a loopback API server that unit tests start: one cluster, one user, one context. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `dir/kubeconfig` naming `server` (with `token` as the user's, if given); returns its path. */
export function writeKubeconfig(dir: string, server: string, token?: string): string {
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node takes a plain-http server only with this flag (there is no TLS to skip).
      clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'me', user: token === undefined ? {} : { token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'me' } }],
      'current-context': 'fake',
    }),
  );
  return kubeconfig;
}
