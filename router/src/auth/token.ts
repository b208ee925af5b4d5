/** `token` mode: one shared bearer token (from a Secret), compared in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { RouterError } from '../errors.js';
import type { RouterMetrics } from '../observability/metrics.js';
import { bearerToken } from './principal.js';
import type { Authenticator } from './principal.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function tokenAuthenticator(expected: string, metrics?: RouterMetrics): Authenticator {
  // Comparing digests gives equal lengths, so timingSafeEqual neither throws nor leaks the length.
  const want = digest(expected);
  return {
    mode: 'token',
    authorize(credentials) {
      const token = bearerToken(credentials.authorization);
      if (token === undefined || !timingSafeEqual(digest(token), want)) {
        metrics?.authDecisions.inc({ mode: 'token', decision: token === undefined ? 'missing' : 'denied' });
        return Promise.reject(
          new RouterError(
            'unauthenticated',
            token === undefined
              ? 'missing credentials: send Authorization: Bearer <router token>'
              : 'invalid bearer token',
          ),
        );
      }
      metrics?.authDecisions.inc({ mode: 'token', decision: 'allowed' });
      return Promise.resolve({
        mode: 'token',
        name: 'token',
        callerKey: `addr:${credentials.remoteAddress}`,
      });
    },
  };
}
