/** Carries out a pool plan, recording expectations before each write so a lagging cache cannot
 * make the next pass create or delete twice. */
import { keyOf, type SandboxWarmPool, type Stored } from '@sandbank/api';
import { isKubeError, PODS, SANDBOX_WARM_POOLS } from '@sandbank/kube';
import type { Logger } from '../../observability/logger.js';
import type { ReconcilerDeps } from '../deps.js';
import type { PoolPlan } from './plan.js';

export async function applyPoolPlan(
  deps: ReconcilerDeps,
  pool: Readonly<Stored<SandboxWarmPool>>,
  plan: PoolPlan,
  log: Logger,
): Promise<void> {
  const key = keyOf(pool);
  const ns = pool.metadata.namespace;
  for (const action of plan.actions) {
    switch (action.type) {
      case 'create-pods': {
        deps.poolExpectations.expectCreations(key, action.count);
        const results = await Promise.allSettled(
          Array.from({ length: action.count }, () => deps.client.create(PODS, ns, action.pod)),
        );
        const failed = results.filter((r) => r.status === 'rejected');
        // A create that failed will never be observed: lower the expectation for it now.
        for (let i = 0; i < failed.length; i++) deps.poolExpectations.creationObserved(key);
        if (results.length > failed.length)
          log.info({ created: results.length - failed.length }, 'warm pods created');
        if (failed[0]?.status === 'rejected') {
          const reason: unknown = failed[0].reason;
          const message = reason instanceof Error ? reason.message : String(reason);
          deps.events.event(pool, 'Warning', 'FailedCreate', `could not create warm pods: ${message}`);
          throw reason;
        }
        break;
      }
      case 'delete-pods':
        for (const pod of action.pods) deps.poolExpectations.expectDeletion(key, pod.uid);
        await Promise.all(
          action.pods.map(async (pod) => {
            try {
              const deleted = await deps.client.delete(PODS, ns, pod.name, {
                uid: pod.uid,
                resourceVersion: pod.resourceVersion,
              });
              if (!deleted) deps.poolExpectations.deletionObserved(key, pod.uid);
            } catch (error) {
              deps.poolExpectations.deletionObserved(key, pod.uid);
              // Conflict: a precondition failed — the Pod was claimed, changed or replaced meanwhile.
              if (!isKubeError(error, 'Conflict')) throw error;
            }
          }),
        );
        log.info({ deleted: action.pods.length }, 'warm pods deleted');
        break;
      case 'event':
        deps.events.event(pool, action.eventType, action.reason, action.message);
        break;
    }
  }
  if (plan.status) {
    await deps.client.patchStatus(SANDBOX_WARM_POOLS, ns, pool.metadata.name, { ...plan.status });
  }
  deps.metrics.poolReplicas(ns, pool.metadata.name, {
    desired: pool.spec.replicas,
    ready: plan.status?.readyReplicas ?? pool.status?.readyReplicas ?? 0,
  });
}
