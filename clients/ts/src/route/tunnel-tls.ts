/**
 * Whether dev mode's tunnel carries TLS, and which CA verifies the router at its end: the router
 * serves only TLS once its certificate Secret `sandbox-router-tls` is mounted, plain HTTP only
 * without it. The client reads that Secret in the router's namespace, with the credentials that
 * read its token and open the port-forward; nothing to configure.
 */
import type { SecretLookup } from '../kube/cluster.js';
import { trustFrom, type RouterTrust } from '../transport/tls.js';

export const ROUTER_TLS_SECRET = 'sandbox-router-tls';
export const ROUTER_CA_KEY = 'ca.crt';

export interface TunnelTls {
  readonly scheme: 'https' | 'http';
  readonly trust: RouterTrust;
}

/**
 * - Secret missing: the router serves plain HTTP, which stays on the loopback tunnel.
 * - Otherwise https, verified with the `caFile` option when given (the user's word wins), else the
 *   Secret's `ca.crt`, else (none in it, or the Secret not readable) what verifies any router.
 *   An unreadable Secret still means TLS: a wrong guess fails verification, never sends in clear.
 */
export function tunnelTls(
  namespace: string,
  lookup: SecretLookup,
  caFile: string | undefined,
  env: NodeJS.ProcessEnv,
): TunnelTls {
  const secret = `Secret ${namespace}/${ROUTER_TLS_SECRET}`;
  if (lookup.state === 'missing') {
    return {
      scheme: 'http',
      trust: { ca: undefined, note: `plain HTTP: no ${secret}, so the router serves no TLS` },
    };
  }
  if (caFile) return { scheme: 'https', trust: trustFrom(caFile, env) };
  const pem = lookup.state === 'found' ? lookup.data[ROUTER_CA_KEY] : undefined;
  if (pem && pem.length > 0) {
    return {
      scheme: 'https',
      trust: { ca: pem.toString('utf8'), note: `verified with ${ROUTER_CA_KEY} of ${secret}` },
    };
  }
  const fallback = trustFrom(undefined, env);
  const why =
    lookup.state === 'forbidden' ? 'could not be read with these credentials' : `has no ${ROUTER_CA_KEY}`;
  return { scheme: 'https', trust: { ca: fallback.ca, note: `${secret} ${why}; ${fallback.note}` } };
}
