/** The SandboxWarmPool reconciler: keeps its warm Pods, with expectations against a lagging cache. */
import { SANDBOX_WARM_POOL_KIND, keyOf, parseKey } from '@sandbank/api';
import type { ReconcilerDeps } from '../deps.js';
import { Index } from '../indexes.js';
import { ownerKey, reconciler, type Reconciler } from '../reconciler.js';
import { applyPoolPlan } from './apply.js';
import { observePool } from './observe.js';
import { planPool } from './plan.js';

export const POOL_CONTROLLER = 'sandboxwarmpool';

export function createPoolReconciler(deps: ReconcilerDeps): Reconciler {
  const expectations = deps.poolExpectations;
  return reconciler(deps.now, {
    name: POOL_CONTROLLER,
    watches: {
      for: 'pools',
      kind: SANDBOX_WARM_POOL_KIND,
      owns: ['pods'],
      // A template edit may make pool members stale.
      watches: [
        {
          source: 'templates',
          map: (template) => deps.caches.pools.byIndex(Index.templateName, keyOf(template)).map(keyOf),
        },
      ],
      // The cache now holds a create or delete this controller made: lower what the pool waits for.
      hooks: [
        {
          source: 'pods',
          onEvent: (event) => {
            const [poolKey] = ownerKey(event.obj, SANDBOX_WARM_POOL_KIND);
            if (poolKey && event.type === 'add') expectations.creationObserved(poolKey);
            if (poolKey && event.type === 'delete')
              expectations.deletionObserved(poolKey, event.obj.metadata.uid);
          },
        },
      ],
    },
    observe: (key) => observePool(deps.caches, expectations, key, deps.profileOf),
    plan: (observed) => planPool(observed),
    apply: (observed, plan, ctx) => applyPoolPlan(deps, observed.pool, plan, ctx.log),
    forget(key) {
      expectations.forget(key);
      const { namespace, name } = parseKey(key);
      deps.metrics.forgetPool(namespace, name);
    },
  });
}
