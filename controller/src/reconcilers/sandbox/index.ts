/** The Sandbox reconciler: its Pod, Service and volume claims, and the status clients wait on. */
import { SANDBOX_CLAIM_KIND, SANDBOX_KIND } from '@sandbank/api';
import type { ReconcilerDeps } from '../deps.js';
import { ownerKey, reconciler, type Reconciler } from '../reconciler.js';
import { applySandboxPlan } from './apply.js';
import { observeSandbox } from './observe.js';
import { planSandbox } from './plan.js';

export const SANDBOX_CONTROLLER = 'sandbox';

export function createSandboxReconciler(deps: ReconcilerDeps): Reconciler {
  return reconciler(deps.now, {
    name: SANDBOX_CONTROLLER,
    watches: {
      for: 'sandboxes',
      kind: SANDBOX_KIND,
      owns: ['pods', 'services', 'persistentVolumeClaims'],
      // A warm Pod bound to a claim but not yet adopted: its Sandbox is named after the claim.
      watches: [{ source: 'pods', map: (pod) => ownerKey(pod, SANDBOX_CLAIM_KIND) }],
      hooks: [],
    },
    observe: (key) => observeSandbox(deps.caches, key, deps.clusterDomain, deps.profileOf),
    plan: planSandbox,
    apply: (observed, plan, ctx) => applySandboxPlan(deps, observed.sandbox, plan, ctx.log),
  });
}
