/**
 * Carries out a claim plan. The bind is the only multi-step action: one resourceVersion-guarded
 * Pod write per candidate until one wins, then the Sandbox, then both statuses in parallel —
 * three round trips on the critical path.
 */
import {
  Annotations,
  SandboxConditionType,
  SandboxReadyReason,
  nameHash,
  Labels,
  type Pod,
  type Sandbox,
  type SandboxClaim,
  type SandboxClaimStatus,
} from '@sandbank/api';
import { isKubeError, PODS, SANDBOXES, SANDBOX_CLAIMS } from '@sandbank/kube';
import type { Logger } from '../../observability/logger.js';
import type { ReconcilerDeps } from '../deps.js';
import { isPodReady, podIPs } from '../shared/pure-pods.js';
import { boundPod, type ClaimAction, type ClaimPlan, type PodRef } from './plan.js';

export interface ApplyOutcome {
  /** Set when this pass bound or created the claim's Sandbox. */
  readonly launched?: 'warm' | 'cold';
  /** Set when the claim's Ready=True status was written in this pass. */
  readonly becameReady: boolean;
}

export async function applyClaimPlan(
  deps: ReconcilerDeps,
  claim: Readonly<SandboxClaim>,
  plan: ClaimPlan,
  log: Logger,
): Promise<ApplyOutcome> {
  const ns = claim.metadata.namespace ?? '';
  let launched: ApplyOutcome['launched'];
  let becameReady = false;
  let statusWritten = false;
  for (const action of plan.actions) {
    const result = await applyAction(deps, claim, action, log);
    if (result) {
      launched = result.launched;
      becameReady = result.readyStatusWritten;
      statusWritten = result.readyStatusWritten;
    }
  }
  if (plan.status && !statusWritten) {
    await deps.client.patchStatus(SANDBOX_CLAIMS, ns, claim.metadata.name ?? '', { ...plan.status });
    becameReady = plan.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  }
  return { ...(launched ? { launched } : {}), becameReady };
}

async function applyAction(
  deps: ReconcilerDeps,
  claim: Readonly<SandboxClaim>,
  action: ClaimAction,
  log: Logger,
): Promise<{ launched: 'warm' | 'cold'; readyStatusWritten: boolean } | undefined> {
  const ns = claim.metadata.namespace ?? '';
  const name = claim.metadata.name ?? '';
  switch (action.type) {
    case 'bind-warm': {
      const pod = await bindFirst(deps, claim, action.candidates, log);
      if (!pod) {
        log.info({ candidates: action.candidates.length }, 'every warm candidate was taken; cold-starting');
        await createSandbox(deps, ns, action.fallback);
        return { launched: 'cold', readyStatusWritten: false };
      }
      const sandbox = withPodName(action.sandbox, pod.metadata.name ?? '');
      await createSandbox(deps, ns, sandbox);
      await markReady(deps, claim, sandbox, pod);
      log.info({ pod: pod.metadata.name }, 'claim bound to a warm pod');
      return { launched: 'warm', readyStatusWritten: true };
    }
    case 'create-sandbox':
      await createSandbox(deps, ns, action.sandbox);
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
        uid: claim.metadata.uid ?? '',
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
  claim: Readonly<SandboxClaim>,
  candidates: readonly PodRef[],
  log: Logger,
): Promise<Pod | undefined> {
  const ns = claim.metadata.namespace ?? '';
  for (const candidate of candidates) {
    // The cache may have moved on since the plan chose this candidate: another claim's bind may
    // be in it now, and a write guarded by *that* resourceVersion would succeed and steal the Pod.
    const cached = deps.caches.pods.get(ns, candidate.name);
    let pod: Readonly<Pod> | undefined = cached && isFree(cached) ? cached : undefined;
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

function isFree(pod: Readonly<Pod>): boolean {
  const owner = pod.metadata.ownerReferences?.find((r) => r.controller);
  return owner?.kind === 'SandboxWarmPool' && !pod.metadata.labels?.[Labels.claimUid] && isPodReady(pod);
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

async function createSandbox(deps: ReconcilerDeps, ns: string, sandbox: Sandbox): Promise<void> {
  try {
    await deps.client.create(SANDBOXES, ns, sandbox);
  } catch (error) {
    // An earlier pass created it and the cache has not caught up; the next pass mirrors it.
    if (!isKubeError(error, 'AlreadyExists')) throw error;
  }
}

/**
 * The Pod is already Ready, so the Sandbox's status and the claim's can both say so now, in
 * parallel, instead of waiting for the Sandbox reconciler's next pass.
 */
async function markReady(
  deps: ReconcilerDeps,
  claim: Readonly<SandboxClaim>,
  sandbox: Sandbox,
  pod: Readonly<Pod>,
): Promise<void> {
  const ns = claim.metadata.namespace ?? '';
  const at = deps.now().toISOString();
  const ips = podIPs(pod);
  const nodeName = typeof pod.spec['nodeName'] === 'string' ? pod.spec['nodeName'] : undefined;
  const sandboxStatus = {
    conditions: [
      {
        type: SandboxConditionType.Ready,
        status: 'True',
        reason: SandboxReadyReason.DependenciesReady,
        message: `Pod ${pod.metadata.name ?? ''} is Ready`,
        observedGeneration: 1,
        lastTransitionTime: at,
      },
    ],
    podIPs: ips,
    replicas: 1,
    selector: `${Labels.sandboxNameHash}=${nameHash(sandbox.metadata.name ?? '')}`,
    ...(nodeName ? { nodeName } : {}),
  };
  const claimStatus: SandboxClaimStatus = {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'SandboxReady',
        message: 'The sandbox is ready',
        observedGeneration: claim.metadata.generation ?? 0,
        lastTransitionTime: at,
      },
    ],
    sandbox: { name: sandbox.metadata.name ?? '', podIPs: ips },
  };
  await Promise.all([
    deps.client.patchStatus(SANDBOXES, ns, sandbox.metadata.name ?? '', sandboxStatus),
    deps.client.patchStatus(SANDBOX_CLAIMS, ns, claim.metadata.name ?? '', { ...claimStatus }),
  ]);
}
