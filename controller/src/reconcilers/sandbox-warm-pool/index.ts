/** The SandboxWarmPool reconciler: observe → plan → apply. */
import { parseKey } from '@sandbank/api';
import type { ReconcileContext } from '../../runtime/controller.js';
import { done, requeueAfter, type Result } from '../../runtime/result.js';
import type { ReconcilerDeps } from '../deps.js';
import { applyPoolPlan } from './apply.js';
import { observePool } from './observe.js';
import { planPool } from './plan.js';

export const POOL_CONTROLLER = 'sandboxwarmpool';

export function createPoolReconciler(deps: ReconcilerDeps) {
  return async function reconcilePool(key: string, ctx: ReconcileContext): Promise<Result> {
    const satisfied = deps.poolExpectations.satisfied(key);
    const observed = observePool(deps.caches, parseKey(key), satisfied);
    if (!observed) {
      deps.poolExpectations.forget(key);
      const { namespace, name } = parseKey(key);
      deps.metrics.forgetPool(namespace, name);
      return done;
    }
    await applyPoolPlan(deps, key, observed.pool, planPool(observed), ctx.log);
    // Unsatisfied expectations expire; look again then in case the watch missed an event.
    return satisfied ? done : requeueAfter(deps.poolExpectations.remainingMs(key));
  };
}
