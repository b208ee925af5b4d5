/** Reads, from the caches only, everything `planPool` decides on. */
import type { ObjectKey } from '@sandbank/api';
import type { Caches } from '../deps.js';
import { Index } from '../indexes.js';
import type { PoolObserved } from './plan.js';

export function observePool(
  caches: Caches,
  key: ObjectKey,
  expectationsSatisfied: boolean,
): PoolObserved | undefined {
  const pool = caches.pools.get(key.namespace, key.name);
  if (!pool) return undefined;
  const uid = pool.metadata.uid ?? '';
  return {
    pool,
    template: caches.templates.get(key.namespace, pool.spec.sandboxTemplateRef.name),
    members: uid ? caches.pods.byIndex(Index.controllerUid, uid) : [],
    expectationsSatisfied,
  };
}
