/** The SandboxClaim reconciler: observe → plan → apply, plus claim-latency bookkeeping. */
import { Labels, parseKey } from '@sandbank/api';
import type { ReconcileContext } from '../../runtime/controller.js';
import { done, requeueAfter, type Result } from '../../runtime/result.js';
import type { ReconcilerDeps } from '../deps.js';
import { applyClaimPlan } from './apply.js';
import { observeClaim } from './observe.js';
import { planClaim } from './plan.js';

export const CLAIM_CONTROLLER = 'sandboxclaim';

export interface ClaimReconciler {
  reconcile(key: string, ctx: ReconcileContext): Promise<Result>;
  /** Call when the claim informer first sees a claim: the start of its latency measurement. */
  claimSeen(key: string, atMs: number): void;
  claimGone(key: string): void;
}

export function createClaimReconciler(deps: ReconcilerDeps): ClaimReconciler {
  // When each claim was first seen, in ms: creationTimestamp has one-second resolution, too
  // coarse for a latency measured in milliseconds. Entries leave when the claim is Ready or gone.
  const firstSeen = new Map<string, number>();

  return {
    claimSeen(key, atMs) {
      if (!firstSeen.has(key)) firstSeen.set(key, atMs);
    },
    claimGone(key) {
      firstSeen.delete(key);
    },
    async reconcile(key, ctx) {
      const observed = observeClaim(deps.caches, parseKey(key));
      if (!observed) {
        firstSeen.delete(key);
        return done;
      }
      const plan = planClaim(observed, deps.now());
      const outcome = await applyClaimPlan(deps, observed.claim, plan, ctx.log);
      if (outcome.launched) ctx.span.setAttribute('sandbank.launch_type', outcome.launched);
      if (outcome.becameReady) {
        const start = firstSeen.get(key);
        const launch =
          outcome.launched ??
          (observed.sandbox?.metadata.labels?.[Labels.launchType] === 'warm' ? 'warm' : 'cold');
        if (start !== undefined) deps.metrics.claimReady(launch, (deps.now().getTime() - start) / 1000);
        firstSeen.delete(key);
      }
      return plan.requeueAfterMs === undefined ? done : requeueAfter(plan.requeueAfterMs);
    },
  };
}
