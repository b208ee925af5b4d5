/**
 * The limit before authentication around any auth mode: credentials the mode cannot vouch for
 * from memory (`recognizes`) are charged to the client address's bucket before they are checked,
 * and refunded once they are allowed. So checking them (a TokenReview, a SubjectAccessReview)
 * happens at a bounded rate per address however many random tokens arrive, while callers already
 * known pass without being charged.
 */
import { addressKey } from '../admission/client-address.js';
import type { PreAuthLimiter } from '../limits.js';
import type { RouterMetrics } from '../observability/metrics.js';
import type { Authenticator } from './principal.js';

export function preAuthLimited(
  inner: Authenticator,
  limiter: PreAuthLimiter,
  metrics?: RouterMetrics,
): Authenticator {
  return {
    mode: inner.mode,
    recognizes: (credentials, target) => inner.recognizes(credentials, target),
    async authorize(credentials, target) {
      if (inner.recognizes(credentials, target)) return inner.authorize(credentials, target);
      let giveBack: () => void;
      try {
        giveBack = limiter.take(addressKey(credentials.remoteAddress));
      } catch (error) {
        metrics?.authDecisions.inc({ mode: inner.mode, decision: 'rate_limited' });
        throw error;
      }
      // A refusal keeps the charge: that is what a flood of bad tokens runs out of.
      const principal = await inner.authorize(credentials, target);
      giveBack();
      return principal;
    },
  };
}
