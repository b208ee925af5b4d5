/**
 * Carries out a claim plan. The bind is the only multi-step action: one resourceVersion-guarded
 * Pod write per candidate until one wins, then the Sandbox, then both statuses in parallel —
 * three round trips on the critical path.
 */
import {
  Annotations,
  ClaimConditionType,
  controllerOf,
  isConditionTrue,
  Labels,
  SANDBOX_WARM_POOL_KIND,
  type Pod,
  type Sandbox,
  type SandboxClaim,
  type Stored,
} from '@sandbank/api';
import { isKubeError, PODS, SANDBOXES, SANDBOX_CLAIMS } from '@sandbank/kube';
import type { Logger } from '../../observability/logger.js';
import type { ReconcilerDeps } from '../deps.js';
import { isPodReady } from '../shared/pure-pods.js';
import { bindStatuses, boundPod, type ClaimAction, type ClaimPlan, type PodRef } from './plan.js';

export interface ApplyOutcome {
  /** Set when this pass bound or created the claim's Sandbox. */
  readonly launched?: 'warm' | 'cold';
  /** Set when the claim's Ready=True status was written in this pass. */
  readonly becameReady: boolean;
}

export async function applyClaimPlan(
  deps: ReconcilerDeps,
  claim: Readonly<Stored<SandboxClaim>>,
  plan: ClaimPlan,
  log: Logger,
): Promise<ApplyOutcome> {
  const ns = claim.metadata.namespace;
  // One read, only on the rare pass that finds a bound claim's Sandbox gone from the cache. A
  // Sandbox of that name that the claim does not control is not its own: its own is gone.
  if (plan.confirmSandboxGone) {
    const found = await deps.client.get<Sandbox>(SANDBOXES, ns, claim.metadata.name);
    if (found && ownedBy(found, claim)) {
      log.debug({}, "the claim's Sandbox is not in the cache yet; waiting for its event");
      return { becameReady: false };
    }
  }
  let launched: ApplyOutcome['launched'];
  let becameReady = false;
  let statusWritten = false;
  for (const action of plan.actions) {
    const result = await applyAction(deps, claim, action, log);
    if (result === 'foreign') {
      // The plan's status would name that Sandbox as the claim's: the claim waits, naming none.
      log.info({}, 'a Sandbox named like the claim belongs to something else; not binding');
      return { becameReady: false };
    }
    if (result) {
      launched = result.launched;
      becameReady = result.readyStatusWritten;
      statusWritten = result.readyStatusWritten;
    }
  }
  if (plan.status && !statusWritten) {
    await deps.client.patchStatus(SANDBOX_CLAIMS, ns, claim.metadata.name, { ...plan.status });
    becameReady = isConditionTrue(plan.status.conditions, ClaimConditionType.Ready);
  }
  return { ...(launched ? { launched } : {}), becameReady };
}

async function applyAction(
  deps: ReconcilerDeps,
  claim: Readonly<Stored<SandboxClaim>>,
  action: ClaimAction,
  log: Logger,
): Promise<{ launched: 'warm' | 'cold'; readyStatusWritten: boolean } | 'foreign' | undefined> {
  const ns = claim.metadata.namespace;
  const name = claim.metadata.name;
  switch (action.type) {
    case 'bind-warm': {
      const pod = await bindFirst(deps, claim, action.candidates, log);
      if (!pod) {
        log.info({ candidates: action.candidates.length }, 'every warm candidate was taken; cold-starting');
        if ((await createOwn(deps, claim, action.fallback)) === 'foreign') return 'foreign';
        return { launched: 'cold', readyStatusWritten: false };
      }
      const stored = await createOwn(deps, claim, withPodName(action.sandbox, pod.metadata.name));
      if (stored === 'foreign') {
        // Bound for nothing: released now rather than on the next pass (which would also do it).
        await deps.client.delete(PODS, ns, pod.metadata.name, { uid: pod.metadata.uid });
        return 'foreign';
      }
      log.info({ pod: pod.metadata.name }, 'claim bound to a warm pod');
      // Deleted again before its status could be written: the next pass finds it missing.
      if (!stored) return { launched: 'warm', readyStatusWritten: false };
      await writeBindStatuses(deps, claim, stored, pod);
      return { launched: 'warm', readyStatusWritten: true };
    }
    case 'create-sandbox':
      if ((await createOwn(deps, claim, action.sandbox)) === 'foreign') return 'foreign';
      log.info({ launchType: action.launchType }, 'sandbox created for claim');
      return { launched: action.launchType, readyStatusWritten: false };
    case 'delete-sandbox':
      await deps.client.delete(SANDBOXES, ns, name, { propagationPolicy: 'Background' });
      return undefined;
    case 'delete-pod':
      await deps.client.delete(PODS, ns, action.pod.name, { uid: action.pod.uid });
      return undefined;
    case 'delete-claim':
      log.info({ propagation: action.propagation }, 'claim expired; deleting it');
      await deps.client.delete(SANDBOX_CLAIMS, ns, name, {
        uid: claim.metadata.uid,
        propagationPolicy: action.propagation,
      });
      return undefined;
    case 'event':
      deps.events.event(claim, action.eventType, action.reason, action.message);
      return undefined;
  }
}

/**
 * One guarded write per candidate. A 409 usually means another claim won the Pod; it can also
 * mean only that the cache was behind (the kubelet updated the Pod's status), so the Pod is read
 * once from the API server and, if it is still free and Ready, tried again at its fresh version.
 */
async function bindFirst(
  deps: ReconcilerDeps,
  claim: Readonly<Stored<SandboxClaim>>,
  candidates: readonly PodRef[],
  log: Logger,
): Promise<Stored<Pod> | undefined> {
  const ns = claim.metadata.namespace;
  for (const candidate of candidates) {
    // The cache may have moved on since the plan chose this candidate: another claim's bind may
    // be in it now, and a write guarded by *that* resourceVersion would succeed and steal the Pod.
    const cached = deps.caches.pods.get(ns, candidate.name);
    let pod: Readonly<Stored<Pod>> | undefined = cached && isFree(cached) ? cached : undefined;
    for (let attempt = 0; attempt < 2 && pod && pod.metadata.uid === candidate.uid; attempt++) {
      try {
        return await deps.client.replace(PODS, ns, boundPod(pod, claim));
      } catch (error) {
        if (isKubeError(error, 'NotFound')) break;
        if (!isKubeError(error, 'Conflict')) throw error;
        const fresh = await deps.client.get<Pod>(PODS, ns, candidate.name);
        pod = fresh && isFree(fresh) ? fresh : undefined;
        log.debug({ pod: candidate.name, stillFree: pod !== undefined }, 'bind conflict');
      }
    }
  }
  return undefined;
}

function isFree(pod: Readonly<Stored<Pod>>): boolean {
  const owner = pod.metadata.ownerReferences?.find((r) => r.controller);
  return owner?.kind === SANDBOX_WARM_POOL_KIND && !pod.metadata.labels?.[Labels.claimUid] && isPodReady(pod);
}

function withPodName(sandbox: Sandbox, podName: string): Sandbox {
  return {
    ...sandbox,
    metadata: {
      ...sandbox.metadata,
      annotations: { ...sandbox.metadata.annotations, [Annotations.podName]: podName },
    },
  };
}

function ownedBy(sandbox: Readonly<Stored<Sandbox>>, claim: Readonly<Stored<SandboxClaim>>): boolean {
  return controllerOf(sandbox.metadata)?.uid === claim.metadata.uid;
}

/**
 * The claim's Sandbox, created now or found from an earlier pass the cache has not caught up
 * with; 'foreign' when a Sandbox of that name is controlled by anything but this claim (by UID:
 * a name proves nothing); undefined when it went again before it could be read.
 */
async function createOwn(
  deps: ReconcilerDeps,
  claim: Readonly<Stored<SandboxClaim>>,
  sandbox: Sandbox,
): Promise<Readonly<Stored<Sandbox>> | 'foreign' | undefined> {
  const ns = claim.metadata.namespace;
  const stored =
    (await deps.client.createIfAbsent(SANDBOXES, ns, sandbox)) ??
    (await deps.client.get<Sandbox>(SANDBOXES, ns, claim.metadata.name));
  if (stored && !ownedBy(stored, claim)) return 'foreign';
  return stored;
}

/** Both statuses of a won bind, in parallel: the claim's Ready is on the critical path. */
async function writeBindStatuses(
  deps: ReconcilerDeps,
  claim: Readonly<Stored<SandboxClaim>>,
  sandbox: Readonly<Stored<Sandbox>>,
  pod: Readonly<Stored<Pod>>,
): Promise<void> {
  const ns = claim.metadata.namespace;
  const statuses = bindStatuses({ claim, sandbox, pod, now: deps.now() });
  const writes = [deps.client.patchStatus(SANDBOXES, ns, sandbox.metadata.name, { ...statuses.sandbox })];
  if (statuses.claim)
    writes.push(deps.client.patchStatus(SANDBOX_CLAIMS, ns, claim.metadata.name, { ...statuses.claim }));
  await Promise.all(writes);
}
