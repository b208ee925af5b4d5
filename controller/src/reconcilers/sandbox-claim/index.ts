/** The SandboxClaim reconciler: binds or cold-starts a Sandbox, mirrors it, measures claim latency. */
import { Labels, SANDBOX_CLAIM_KIND, keyOf } from '@sandbank/api';
import type { ReconcilerDeps } from '../deps.js';
import { Index } from '../indexes.js';
import { reconciler, type Reconciler } from '../reconciler.js';
import { applyClaimPlan } from './apply.js';
import { observeClaim } from './observe.js';
import { planClaim, waitsForPoolOrTemplate } from './plan.js';

export const CLAIM_CONTROLLER = 'sandboxclaim';

export function createClaimReconciler(deps: ReconcilerDeps): Reconciler {
  // When each claim was first seen, in ms: creationTimestamp has one-second resolution, too
  // coarse for a latency measured in milliseconds. Entries leave when the claim is Ready or gone.
  const firstSeen = new Map<string, number>();
  // Claims answered WarmPoolNotFound/TemplateNotFound, queued again when a pool or template of
  // their namespace changes (a scan of the namespace's claims: cheap next to a reconcile).
  const waiting = (namespace: string): string[] =>
    deps.caches.claims.list(namespace).filter(waitsForPoolOrTemplate).map(keyOf);

  return reconciler(deps.now, {
    name: CLAIM_CONTROLLER,
    watches: {
      for: 'claims',
      kind: SANDBOX_CLAIM_KIND,
      owns: ['sandboxes', 'pods'],
      // A bound Pod carries its claim's UID before any owner reference names the claim.
      watches: [
        {
          source: 'pods',
          map: (pod) => {
            const claimUid = pod.metadata.labels?.[Labels.claimUid];
            return claimUid ? deps.caches.claims.byIndex(Index.uid, claimUid).map(keyOf) : [];
          },
        },
        { source: 'pools', map: (pool) => waiting(pool.metadata.namespace) },
        { source: 'templates', map: (template) => waiting(template.metadata.namespace) },
      ],
      // The latency clock starts when the informer sees the claim, not when a worker gets to it.
      hooks: [
        {
          source: 'claims',
          onEvent: (event) => {
            const key = keyOf(event.obj);
            if (event.type === 'add' && !firstSeen.has(key)) firstSeen.set(key, deps.now().getTime());
            if (event.type === 'delete') firstSeen.delete(key);
          },
        },
      ],
    },
    observe: (key) => observeClaim(deps.caches, key, deps.profileOf),
    plan: planClaim,
    async apply(observed, plan, ctx) {
      const outcome = await applyClaimPlan(deps, observed.claim, plan, ctx.log);
      if (outcome.launched) ctx.span.setAttribute('sandbank.launch_type', outcome.launched);
      if (!outcome.becameReady) return;
      const key = keyOf(observed.claim);
      const start = firstSeen.get(key);
      const launch =
        outcome.launched ??
        (observed.sandbox?.metadata.labels?.[Labels.launchType] === 'warm' ? 'warm' : 'cold');
      if (start !== undefined) deps.metrics.claimReady(launch, (deps.now().getTime() - start) / 1000);
      firstSeen.delete(key);
    },
    forget: (key) => firstSeen.delete(key),
  });
}
