/**
 * SandboxClaim — the hot path. Binds a warm Pod in one guarded write (done by `apply` from the
 * ordered candidates chosen here), or cold-starts at once; names the Sandbox after the claim;
 * mirrors the Sandbox into the claim's status; enforces the claim's lifecycle. Pure.
 *
 * Crash safety: the Pod's `claim-uid` label is the record of a bind. A claim with a bound Pod and
 * no Sandbox gets its Sandbox (pointing at that Pod) on the next pass; a Pod is only ever bound
 * by a resourceVersion-guarded write, so two claims can never both win it.
 */
import {
  Annotations,
  ClaimReadyReason,
  EXTENSIONS_API_VERSION,
  Labels,
  SANDBOX_API_VERSION,
  SANDBOX_CLAIM_KIND,
  SANDBOX_KIND,
  SandboxConditionType,
  TERMINAL_CLAIM_REASONS,
  WARM_POOL_DEFAULT,
  WARM_POOL_NONE,
  controllerOf,
  controllerRef,
  findCondition,
  nameHash,
  setCondition,
  type ClaimReadyReason as ClaimReason,
  type Pod,
  type Sandbox,
  type SandboxClaim,
  type SandboxClaimStatus,
  type SandboxTemplate,
  type SandboxWarmPool,
} from '@sandbank/api';
import { isPodReady, podTemplateHash } from '../shared/pure-pods.js';
import { additionalMetadataProblem, envProblem, podTemplateForClaim } from './pure-validation.js';

export interface ClaimObserved {
  readonly claim: Readonly<SandboxClaim>;
  readonly template: Readonly<SandboxTemplate> | undefined;
  /** Warm pools in the claim's namespace. */
  readonly pools: readonly Readonly<SandboxWarmPool>[];
  /** The Sandbox named after the claim, if any. */
  readonly sandbox: Readonly<Sandbox> | undefined;
  /** Pods labelled with this claim's UID: bound to it. */
  readonly boundPods: readonly Readonly<Pod>[];
  /** Pods of the claim's template (by template-ref-hash label), any owner. */
  readonly templatePods: readonly Readonly<Pod>[];
}

export interface PodRef {
  readonly name: string;
  readonly uid: string;
}

export type ClaimAction =
  /** Try the candidates in order with one guarded Pod write each; the first win gets `sandbox`
   * (with the Pod's name filled in); if every candidate is lost, create `fallback` (cold). */
  | {
      readonly type: 'bind-warm';
      readonly candidates: readonly PodRef[];
      readonly sandbox: Sandbox;
      readonly fallback: Sandbox;
    }
  | { readonly type: 'create-sandbox'; readonly sandbox: Sandbox; readonly launchType: 'warm' | 'cold' }
  | { readonly type: 'delete-sandbox' }
  | { readonly type: 'delete-pod'; readonly pod: PodRef }
  | { readonly type: 'delete-claim'; readonly propagation: 'Background' | 'Foreground' }
  | {
      readonly type: 'event';
      readonly eventType: 'Normal' | 'Warning';
      readonly reason: string;
      readonly message: string;
    };

export interface ClaimPlan {
  readonly actions: readonly ClaimAction[];
  readonly status: SandboxClaimStatus | null;
  readonly requeueAfterMs?: number;
}

export function planClaim(o: ClaimObserved, now: Date): ClaimPlan {
  const { claim } = o;
  if (claim.metadata.deletionTimestamp) return { actions: [], status: null };
  const nowIso = now.toISOString();
  const ready = findCondition(claim.status?.conditions, 'Ready');

  // Lifecycle first: an expired claim never binds again.
  const expiry = expiresAt(claim, o.sandbox);
  if (expiry !== undefined && expiry <= now.getTime()) {
    const policy = claim.spec.lifecycle?.shutdownPolicy ?? 'Retain';
    if (policy !== 'Retain') {
      return {
        actions: [
          { type: 'delete-claim', propagation: policy === 'DeleteForeground' ? 'Foreground' : 'Background' },
        ],
        status: null,
      };
    }
    return {
      actions: o.sandbox ? [{ type: 'delete-sandbox' }] : [],
      status: statusWith(
        claim,
        nowIso,
        'False',
        ClaimReadyReason.ClaimExpired,
        'The claim expired; its sandbox was deleted',
        undefined,
      ),
    };
  }
  const requeue = expiry === undefined ? {} : { requeueAfterMs: expiry - now.getTime() };

  if (o.sandbox) return { ...mirrorSandbox(o, o.sandbox, nowIso), ...requeue };

  // A Pod bound to this claim but no Sandbox: a bind whose next step did not happen. Repair it.
  const bound = [...o.boundPods].filter((p) => !p.metadata.deletionTimestamp).sort(byName)[0];
  if (bound && o.template) {
    return {
      actions: [
        {
          type: 'create-sandbox',
          sandbox: sandboxFor(o.claim, o.template, bound.metadata.name),
          launchType: 'warm',
        },
      ],
      status: statusWith(
        claim,
        nowIso,
        'False',
        ClaimReadyReason.Pending,
        `Re-attaching bound Pod ${bound.metadata.name ?? ''}`,
        undefined,
      ),
      ...requeue,
    };
  }

  // A terminal failure stays put (no writes, no events) while its cause remains; an expired
  // claim or a failed sandbox never comes back.
  if (
    ready &&
    TERMINAL_CLAIM_REASONS.has(ready.reason as ClaimReason) &&
    ready.observedGeneration === claim.metadata.generation
  ) {
    const final =
      ready.reason === ClaimReadyReason.ClaimExpired || ready.reason === ClaimReadyReason.SandboxFailed;
    if (final || terminalProblem(o) !== undefined) return { actions: [], status: null, ...requeue };
  }

  const problem = terminalProblem(o);
  if (problem) {
    return {
      actions: [{ type: 'event', eventType: 'Warning', reason: problem.reason, message: problem.message }],
      status: statusWith(claim, nowIso, 'False', problem.reason, problem.message, undefined),
      ...requeue,
    };
  }
  const template = o.template as Readonly<SandboxTemplate>;
  const cold = sandboxFor(claim, template, undefined);
  const pending = statusWith(
    claim,
    nowIso,
    'False',
    ClaimReadyReason.Pending,
    'Binding a sandbox',
    undefined,
  );
  const candidates = warmEligible(claim, template) ? candidatesFor(o, template) : [];
  if (candidates.length === 0) {
    return {
      actions: [{ type: 'create-sandbox', sandbox: cold, launchType: 'cold' }],
      status: pending,
      ...requeue,
    };
  }
  return {
    actions: [{ type: 'bind-warm', candidates, sandbox: sandboxFor(claim, template, ''), fallback: cold }],
    status: pending,
    ...requeue,
  };
}

function byName(a: Readonly<Pod>, b: Readonly<Pod>): number {
  return (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

/** Earliest of shutdownTime and (sandbox finished + ttlSecondsAfterFinished), in epoch ms. */
export function expiresAt(
  claim: Readonly<SandboxClaim>,
  sandbox: Readonly<Sandbox> | undefined,
): number | undefined {
  const lifecycle = claim.spec.lifecycle;
  const times: number[] = [];
  if (lifecycle?.shutdownTime) times.push(Date.parse(lifecycle.shutdownTime));
  const finished = findCondition(sandbox?.status?.conditions, SandboxConditionType.Finished);
  if (lifecycle?.ttlSecondsAfterFinished !== undefined && finished?.status === 'True') {
    times.push(Date.parse(finished.lastTransitionTime) + lifecycle.ttlSecondsAfterFinished * 1000);
  }
  return times.length > 0 ? Math.min(...times) : undefined;
}

function terminalProblem(o: ClaimObserved): { reason: ClaimReason; message: string } | undefined {
  const { claim, template } = o;
  if (!template) {
    return {
      reason: ClaimReadyReason.TemplateNotFound,
      message: `SandboxTemplate ${claim.spec.sandboxTemplateRef.name} not found in namespace ${claim.metadata.namespace ?? ''}`,
    };
  }
  const pool = claim.spec.warmpool;
  if (pool !== WARM_POOL_DEFAULT && pool !== WARM_POOL_NONE) {
    const named = o.pools.find((p) => p.metadata.name === pool);
    if (!named)
      return { reason: ClaimReadyReason.WarmPoolNotFound, message: `SandboxWarmPool ${pool} not found` };
    if (named.spec.sandboxTemplateRef.name !== template.metadata.name) {
      return {
        reason: ClaimReadyReason.WarmPoolNotFound,
        message: `SandboxWarmPool ${pool} serves template ${named.spec.sandboxTemplateRef.name}, not ${template.metadata.name ?? ''}`,
      };
    }
  }
  const metadata = additionalMetadataProblem(claim, template);
  if (metadata) return { reason: ClaimReadyReason.InvalidMetadata, message: metadata };
  const env = envProblem(claim, template);
  if (env) return { reason: ClaimReadyReason.EnvVarsInjectionRejected, message: env };
  return undefined;
}

/** Env, extra metadata and volumes change the Pod, so a pre-started one cannot serve the claim. */
function warmEligible(claim: Readonly<SandboxClaim>, template: Readonly<SandboxTemplate>): boolean {
  const extra = claim.spec.additionalPodMetadata;
  const hasExtra = Object.keys(extra?.labels ?? {}).length + Object.keys(extra?.annotations ?? {}).length > 0;
  return (
    claim.spec.warmpool !== WARM_POOL_NONE &&
    (claim.spec.env ?? []).length === 0 &&
    !hasExtra &&
    (template.spec.volumeClaimTemplates ?? []).length === 0
  );
}

/**
 * Ready, unclaimed pool Pods of the claim's template (and pool, if it names one): fresh ones
 * (current pod template) first, each group rotated by a hash of the claim's UID so concurrent
 * claims start at different Pods and rarely race for the same one.
 */
function candidatesFor(o: ClaimObserved, template: Readonly<SandboxTemplate>): PodRef[] {
  const poolUids = new Map(o.pools.map((p) => [p.metadata.uid ?? '', p]));
  const named = o.claim.spec.warmpool;
  const currentHash = podTemplateHash(template.spec.podTemplate);
  const usable = o.templatePods.filter((pod) => {
    const owner = pod.metadata.ownerReferences?.find((r) => r.controller && r.kind === 'SandboxWarmPool');
    const pool = owner ? poolUids.get(owner.uid) : undefined;
    if (!pool || pod.metadata.labels?.[Labels.claimUid]) return false;
    if (named !== WARM_POOL_DEFAULT && pool.metadata.name !== named) return false;
    return isPodReady(pod);
  });
  const spread = Number.parseInt(nameHash(o.claim.metadata.uid ?? o.claim.metadata.name ?? ''), 16);
  const rotate = (pods: Readonly<Pod>[]): Readonly<Pod>[] => {
    const sorted = [...pods].sort(byName);
    const k = sorted.length > 0 ? spread % sorted.length : 0;
    return [...sorted.slice(k), ...sorted.slice(0, k)];
  };
  const fresh = usable.filter((p) => p.metadata.labels?.[Labels.podTemplateHash] === currentHash);
  const stale = usable.filter((p) => p.metadata.labels?.[Labels.podTemplateHash] !== currentHash);
  return [...rotate(fresh), ...rotate(stale)].map((p) => ({
    name: p.metadata.name ?? '',
    uid: p.metadata.uid ?? '',
  }));
}

/**
 * The Sandbox a claim gets: named after the claim, owned by it. `podName` set (even '') means a
 * warm bind: the annotation names the adopted Pod (apply fills in '' with the Pod it won).
 */
export function sandboxFor(
  claim: Readonly<SandboxClaim>,
  template: Readonly<SandboxTemplate>,
  podName: string | undefined,
): Sandbox {
  const traceContext = claim.metadata.annotations?.[Annotations.traceContext];
  return {
    apiVersion: SANDBOX_API_VERSION,
    kind: SANDBOX_KIND,
    metadata: {
      name: claim.metadata.name ?? '',
      namespace: claim.metadata.namespace ?? '',
      labels: {
        [Labels.claimUid]: claim.metadata.uid ?? '',
        [Labels.sandboxTemplateRefHash]: nameHash(template.metadata.name ?? ''),
        [Labels.launchType]: podName === undefined ? 'cold' : 'warm',
      },
      annotations: {
        [Annotations.sandboxTemplateRef]: template.metadata.name ?? '',
        ...(podName === undefined ? {} : { [Annotations.podName]: podName }),
        ...(traceContext ? { [Annotations.traceContext]: traceContext } : {}),
      },
      ownerReferences: [
        controllerRef({
          apiVersion: EXTENSIONS_API_VERSION,
          kind: SANDBOX_CLAIM_KIND,
          metadata: claim.metadata,
        }),
      ],
    },
    spec: {
      podTemplate: podName === undefined ? podTemplateForClaim(claim, template) : template.spec.podTemplate,
      ...(template.spec.volumeClaimTemplates
        ? { volumeClaimTemplates: template.spec.volumeClaimTemplates }
        : {}),
      replicas: 1,
      shutdownPolicy: 'Retain',
      ...(template.spec.service === undefined ? {} : { service: template.spec.service }),
    },
  };
}

/** The Pod of a bind: out of the pool, labelled for the claim, owned by it. Pure. */
export function boundPod(pod: Readonly<Pod>, claim: Readonly<SandboxClaim>): Pod {
  const labels = Object.fromEntries(
    Object.entries(pod.metadata.labels ?? {}).filter(([key]) => key !== Labels.pool),
  );
  labels[Labels.claimUid] = claim.metadata.uid ?? '';
  labels[Labels.sandboxNameHash] = nameHash(claim.metadata.name ?? '');
  return {
    ...structuredClone(pod),
    metadata: {
      ...structuredClone(pod.metadata),
      labels,
      ownerReferences: [
        controllerRef({
          apiVersion: EXTENSIONS_API_VERSION,
          kind: SANDBOX_CLAIM_KIND,
          metadata: claim.metadata,
        }),
      ],
    },
  };
}

/** Claim status once its Sandbox exists: forwards readiness, turns a finished or foreign Sandbox into a reason. */
function mirrorSandbox(o: ClaimObserved, sandbox: Readonly<Sandbox>, nowIso: string): ClaimPlan {
  const { claim } = o;
  const name = sandbox.metadata.name ?? '';
  if (controllerOf(sandbox.metadata)?.uid !== claim.metadata.uid) {
    return {
      actions: [],
      status: statusWith(
        claim,
        nowIso,
        'False',
        ClaimReadyReason.Pending,
        `A Sandbox named ${name} exists and belongs to something else`,
        undefined,
      ),
    };
  }
  // Bound Pods the Sandbox does not use (a lost race repaired by a cold start) are released.
  const used = sandbox.metadata.annotations?.[Annotations.podName] ?? name;
  const stray: ClaimAction[] = o.boundPods
    .filter((p) => p.metadata.name !== used && !p.metadata.deletionTimestamp)
    .map((p) => ({ type: 'delete-pod', pod: { name: p.metadata.name ?? '', uid: p.metadata.uid ?? '' } }));
  const sandboxStatus = { name, podIPs: sandbox.status?.podIPs ?? [] };
  const finished = findCondition(sandbox.status?.conditions, SandboxConditionType.Finished);
  if (finished?.status === 'True') {
    return {
      actions: stray,
      status: statusWith(
        claim,
        nowIso,
        'False',
        ClaimReadyReason.SandboxFailed,
        finished.message || finished.reason,
        sandboxStatus,
      ),
    };
  }
  const sandboxReady = findCondition(sandbox.status?.conditions, SandboxConditionType.Ready);
  if (sandboxReady?.status === 'True') {
    return {
      actions: stray,
      status: statusWith(
        claim,
        nowIso,
        'True',
        ClaimReadyReason.SandboxReady,
        'The sandbox is ready',
        sandboxStatus,
      ),
    };
  }
  const why = sandboxReady?.message ? `: ${sandboxReady.message}` : '';
  return {
    actions: stray,
    status: statusWith(
      claim,
      nowIso,
      'False',
      ClaimReadyReason.SandboxNotReady,
      `Sandbox ${name} is not ready${why}`,
      sandboxStatus,
    ),
  };
}

/** The claim status with Ready set as given, or null when that is what it already is. */
function statusWith(
  claim: Readonly<SandboxClaim>,
  nowIso: string,
  status: 'True' | 'False',
  reason: ClaimReason,
  message: string,
  sandbox: { name: string; podIPs: string[] } | undefined,
): SandboxClaimStatus | null {
  const { list, changed } = setCondition(
    claim.status?.conditions,
    { type: 'Ready', status, reason, message, observedGeneration: claim.metadata.generation ?? 0 },
    nowIso,
  );
  const currentSandbox = claim.status?.sandbox;
  const sandboxChanged =
    sandbox !== undefined &&
    (currentSandbox?.name !== sandbox.name || (currentSandbox.podIPs ?? []).join() !== sandbox.podIPs.join());
  if (!changed && !sandboxChanged) return null;
  return { conditions: list, ...(sandbox ? { sandbox } : currentSandbox ? { sandbox: currentSandbox } : {}) };
}
