/** `none` mode: everyone may use every sandbox. Development only; main.ts logs it loudly. */
import type { RouterMetrics } from '../observability/metrics.js';
import type { Authenticator } from './principal.js';
import { ALL_NAMESPACES } from './scope.js';

export function noAuthenticator(metrics?: RouterMetrics): Authenticator {
  return {
    mode: 'none',
    authorize(credentials) {
      metrics?.authDecisions.inc({ mode: 'none', decision: 'allowed' });
      // Without credentials the address is all that tells callers apart (the IP, never the port).
      return Promise.resolve({
        mode: 'none',
        name: 'anonymous',
        callerKey: `addr:${credentials.remoteAddress}`,
        namespaces: ALL_NAMESPACES,
      });
    },
    recognizes: () => true,
  };
}
