/** The Sandbox reconciler: observe → plan → apply. */
import { parseKey } from '@sandbank/api';
import type { ReconcileContext } from '../../runtime/controller.js';
import { done, requeueAfter, type Result } from '../../runtime/result.js';
import type { ReconcilerDeps } from '../deps.js';
import { applySandboxPlan } from './apply.js';
import { observeSandbox } from './observe.js';
import { planSandbox } from './plan.js';

export const SANDBOX_CONTROLLER = 'sandbox';

export function createSandboxReconciler(deps: ReconcilerDeps) {
  return async function reconcileSandbox(key: string, ctx: ReconcileContext): Promise<Result> {
    const observed = observeSandbox(deps.caches, parseKey(key), deps.clusterDomain);
    if (!observed) return done;
    const plan = planSandbox(observed, deps.now());
    await applySandboxPlan(deps, observed.sandbox, plan, ctx.log);
    return plan.requeueAfterMs === undefined ? done : requeueAfter(plan.requeueAfterMs);
  };
}
