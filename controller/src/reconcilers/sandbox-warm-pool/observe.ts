/** Reads, from the caches and the pool's expectations only, everything `planPool` decides on. */
import { keyOf, type ObjectKey } from '@sandbank/api';
import type { Expectations } from '../../runtime/expectations.js';
import type { Caches } from '../deps.js';
import type { SandboxProfile } from '../shared/pure-profile.js';
import { Index } from '../indexes.js';
import { missingMemberClaims, type PoolObserved } from './plan.js';

export function observePool(
  caches: Caches,
  expectations: Expectations,
  key: ObjectKey,
  profileOf: (namespace: string) => SandboxProfile,
): PoolObserved | undefined {
  const pool = caches.pools.get(key.namespace, key.name);
  if (!pool) return undefined;
  const poolKey = keyOf(pool);
  const template = caches.templates.get(key.namespace, pool.spec.sandboxTemplateRef.name);
  const members = caches.pods.byIndex(Index.controllerUid, pool.metadata.uid);
  return {
    pool,
    template,
    members,
    missingClaims: missingMemberClaims(
      members,
      template?.spec.volumeClaimTemplates ?? [],
      (name) => caches.persistentVolumeClaims.get(key.namespace, name) !== undefined,
    ),
    // `satisfied` first: it drops an expired record, and then `remainingMs` is 0.
    expectationsSatisfied: expectations.satisfied(poolKey),
    expectationsExpireInMs: expectations.remainingMs(poolKey),
    profile: profileOf(key.namespace),
  };
}
