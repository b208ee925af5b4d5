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
  ClaimConditionType,
  ClaimReadyReason,
  EXTENSIONS_API_VERSION,
  Labels,
  SANDBOX_API_VERSION,
  SANDBOX_CLAIM_KIND,
  SANDBOX_KIND,
  SANDBOX_WARM_POOL_KIND,
  SandboxConditionType,
  SandboxReadyReason,
  TERMINAL_CLAIM_REASONS,
  claimIntent,
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
  type SandboxStatus,
  type SandboxTemplate,
  type SandboxWarmPool,
  type Stored,
} from '@sandbank/api';
import { warningEvent, type EventAction } from '../shared/pure-events.js';
import {
  isPodReady,
  podIPs,
  podNodeName,
  podTemplateHash,
  sandboxSelector,
  withSecureDefaults,
} from '../shared/pure-pods.js';
import {
  defaultRuntimeClass,
  describeViolations,
  profileViolations,
  type SandboxProfile,
} from '../shared/pure-profile.js';
import { additionalMetadataProblem, envProblem, podTemplateForClaim } from './pure-validation.js';

export interface ClaimObserved {
  readonly claim: Readonly<Stored<SandboxClaim>>;
  readonly template: Readonly<Stored<SandboxTemplate>> | undefined;
  /** Warm pools in the claim's namespace. */
  readonly pools: readonly Readonly<Stored<SandboxWarmPool>>[];
  /** The Sandbox named after the claim, if any. */
  readonly sandbox: Readonly<Stored<Sandbox>> | undefined;
  /** Pods labelled with this claim's UID: bound to it. */
  readonly boundPods: readonly Readonly<Stored<Pod>>[];
  /** Pods of the claim's template (by template-ref-hash label), any owner. */
  readonly templatePods: readonly Readonly<Stored<Pod>>[];
  /** The sandbox profile of the claim's namespace. */
  readonly profile: SandboxProfile;
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
  | EventAction;

export interface ClaimPlan {
  readonly actions: readonly ClaimAction[];
  readonly status: SandboxClaimStatus | null;
  readonly requeueAfterMs?: number;
}

export function planClaim(o: ClaimObserved, now: Date): ClaimPlan {
  const { claim } = o;
  if (claim.metadata.deletionTimestamp) return { actions: [], status: null };
  const ready = findCondition(claim.status?.conditions, ClaimConditionType.Ready);

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
      status: statusWith(claim, {
        now,
        status: 'False',
        reason: ClaimReadyReason.ClaimExpired,
        message: 'The claim expired; its sandbox was deleted',
      }),
    };
  }
  const requeue = expiry === undefined ? {} : { requeueAfterMs: expiry - now.getTime() };

  if (o.sandbox) return { ...mirrorSandbox(o, o.sandbox, now), ...requeue };

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
      status: statusWith(claim, {
        now,
        status: 'False',
        reason: ClaimReadyReason.Pending,
        message: `Re-attaching bound Pod ${bound.metadata.name}`,
      }),
      ...requeue,
    };
  }

  const validated = validate(o);
  // A terminal failure stays put (no writes, no events) while its cause remains; an expired
  // claim or a failed sandbox never comes back.
  if (
    ready &&
    TERMINAL_CLAIM_REASONS.has(ready.reason as ClaimReason) &&
    ready.observedGeneration === claim.metadata.generation
  ) {
    const final =
      ready.reason === ClaimReadyReason.ClaimExpired || ready.reason === ClaimReadyReason.SandboxFailed;
    if (final || !validated.valid) return { actions: [], status: null, ...requeue };
  }
  if (!validated.valid) {
    const { reason, message } = validated;
    return {
      actions: [warningEvent(reason, message)],
      status: statusWith(claim, { now, status: 'False', reason, message }),
      ...requeue,
    };
  }

  const { template } = validated;
  const cold = sandboxFor(claim, template, undefined);
  const pending = statusWith(claim, {
    now,
    status: 'False',
    reason: ClaimReadyReason.Pending,
    message: 'Binding a sandbox',
  });
  const candidates = warmEligible(claim) ? candidatesFor(o, template) : [];
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

function byName(a: Readonly<Stored<Pod>>, b: Readonly<Stored<Pod>>): number {
  return a.metadata.name.localeCompare(b.metadata.name);
}

/** Earliest of shutdownTime and (sandbox finished + ttlSecondsAfterFinished), in epoch ms. */
export function expiresAt(
  claim: Readonly<Stored<SandboxClaim>>,
  sandbox: Readonly<Stored<Sandbox>> | undefined,
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

/** Whether the claim can be served as asked: its template, or the terminal reason it cannot. */
type Validated =
  | { readonly valid: true; readonly template: Readonly<Stored<SandboxTemplate>> }
  | { readonly valid: false; readonly reason: ClaimReason; readonly message: string };

function validate(o: ClaimObserved): Validated {
  const { claim, template } = o;
  const invalid = (reason: ClaimReason, message: string): Validated => ({ valid: false, reason, message });
  const intent = claimIntent(claim);
  if ('invalid' in intent) return invalid(ClaimReadyReason.InvalidConfiguration, intent.invalid);
  const named = intent.pool === undefined ? undefined : o.pools.find((p) => p.metadata.name === intent.pool);
  if (intent.pool !== undefined && !named && intent.template === undefined) {
    return invalid(ClaimReadyReason.WarmPoolNotFound, `SandboxWarmPool ${intent.pool} not found`);
  }
  const templateName = intent.template ?? named?.spec.sandboxTemplateRef.name ?? '';
  if (!template) {
    return invalid(
      ClaimReadyReason.TemplateNotFound,
      `SandboxTemplate ${templateName} not found in namespace ${claim.metadata.namespace}`,
    );
  }
  if (intent.pool !== undefined) {
    if (!named) return invalid(ClaimReadyReason.WarmPoolNotFound, `SandboxWarmPool ${intent.pool} not found`);
    if (named.spec.sandboxTemplateRef.name !== template.metadata.name) {
      return invalid(
        ClaimReadyReason.WarmPoolNotFound,
        `SandboxWarmPool ${intent.pool} serves template ${named.spec.sandboxTemplateRef.name}, not ${template.metadata.name}`,
      );
    }
  }
  const metadata = additionalMetadataProblem(claim, template);
  if (metadata) return invalid(ClaimReadyReason.InvalidMetadata, metadata);
  const env = envProblem(claim, template);
  if (env) return invalid(ClaimReadyReason.EnvVarsInjectionRejected, env);
  // The pod this claim would get (its env and extra metadata included), as it would be created.
  const pod = podTemplateForClaim(claim, template);
  const violations = profileViolations(
    { ...pod, spec: withSecureDefaults(pod.spec, defaultRuntimeClass(o.profile)) },
    o.profile,
  );
  if (violations.length > 0) {
    return invalid(
      ClaimReadyReason.TemplateRejected,
      `SandboxTemplate ${template.metadata.name} breaks the sandbox profile: ${describeViolations(violations)}`,
    );
  }
  return { valid: true, template };
}

/**
 * Env and extra metadata change the Pod, so a pre-started one cannot serve the claim. The
 * template's volume claim templates do not: pool members are made with their claims mounted.
 */
function warmEligible(claim: Readonly<Stored<SandboxClaim>>): boolean {
  const extra = claim.spec.additionalPodMetadata;
  const hasExtra = Object.keys(extra?.labels ?? {}).length + Object.keys(extra?.annotations ?? {}).length > 0;
  const intent = claimIntent(claim);
  return !('invalid' in intent) && intent.warm !== 'none' && (claim.spec.env ?? []).length === 0 && !hasExtra;
}

/**
 * Ready, unclaimed pool Pods of the claim's template (and pool, if it names one): fresh ones
 * (current pod template) first, each group rotated by a hash of the claim's UID so concurrent
 * claims start at different Pods and rarely race for the same one.
 */
function candidatesFor(o: ClaimObserved, template: Readonly<Stored<SandboxTemplate>>): PodRef[] {
  const poolUids = new Map(o.pools.map((p) => [p.metadata.uid, p]));
  const intent = claimIntent(o.claim);
  const named = 'invalid' in intent ? undefined : intent.pool;
  const currentHash = podTemplateHash(template.spec.podTemplate);
  const usable = o.templatePods.filter((pod) => {
    const owner = pod.metadata.ownerReferences?.find(
      (r) => r.controller && r.kind === SANDBOX_WARM_POOL_KIND,
    );
    const pool = owner ? poolUids.get(owner.uid) : undefined;
    if (!pool || pod.metadata.labels?.[Labels.claimUid]) return false;
    if (named !== undefined && pool.metadata.name !== named) return false;
    return isPodReady(pod);
  });
  const spread = Number.parseInt(nameHash(o.claim.metadata.uid), 16);
  const rotate = (pods: Readonly<Stored<Pod>>[]): Readonly<Stored<Pod>>[] => {
    const sorted = [...pods].sort(byName);
    const k = sorted.length > 0 ? spread % sorted.length : 0;
    return [...sorted.slice(k), ...sorted.slice(0, k)];
  };
  const fresh = usable.filter((p) => p.metadata.labels?.[Labels.podTemplateHash] === currentHash);
  const stale = usable.filter((p) => p.metadata.labels?.[Labels.podTemplateHash] !== currentHash);
  return [...rotate(fresh), ...rotate(stale)].map((p) => ({
    name: p.metadata.name,
    uid: p.metadata.uid,
  }));
}

/**
 * The Sandbox a claim gets: named after the claim, owned by it. `podName` set (even '') means a
 * warm bind: the annotation names the adopted Pod (apply fills in '' with the Pod it won).
 */
export function sandboxFor(
  claim: Readonly<Stored<SandboxClaim>>,
  template: Readonly<Stored<SandboxTemplate>>,
  podName: string | undefined,
): Sandbox {
  const traceContext = claim.metadata.annotations?.[Annotations.traceContext];
  return {
    apiVersion: SANDBOX_API_VERSION,
    kind: SANDBOX_KIND,
    metadata: {
      name: claim.metadata.name,
      namespace: claim.metadata.namespace,
      labels: {
        [Labels.claimUid]: claim.metadata.uid,
        [Labels.sandboxTemplateRefHash]: nameHash(template.metadata.name),
        [Labels.launchType]: podName === undefined ? 'cold' : 'warm',
      },
      annotations: {
        [Annotations.sandboxTemplateRef]: template.metadata.name,
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
      operatingMode: 'Running',
      shutdownPolicy: 'Retain',
      ...(template.spec.service === undefined ? {} : { service: template.spec.service }),
    },
  };
}

/** The Pod of a bind: out of the pool, labelled for the claim, owned by it. Pure. */
export function boundPod(pod: Readonly<Stored<Pod>>, claim: Readonly<Stored<SandboxClaim>>): Pod {
  const labels = Object.fromEntries(
    Object.entries(pod.metadata.labels ?? {}).filter(([key]) => key !== Labels.pool),
  );
  labels[Labels.claimUid] = claim.metadata.uid;
  labels[Labels.sandboxNameHash] = nameHash(claim.metadata.name);
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
function mirrorSandbox(o: ClaimObserved, sandbox: Readonly<Stored<Sandbox>>, now: Date): ClaimPlan {
  const { claim } = o;
  const name = sandbox.metadata.name;
  if (controllerOf(sandbox.metadata)?.uid !== claim.metadata.uid) {
    return {
      actions: [],
      status: statusWith(claim, {
        now,
        status: 'False',
        reason: ClaimReadyReason.Pending,
        message: `A Sandbox named ${name} exists and belongs to something else`,
      }),
    };
  }
  // Bound Pods the Sandbox does not use (a lost race repaired by a cold start) are released.
  const used = sandbox.metadata.annotations?.[Annotations.podName] ?? name;
  const stray: ClaimAction[] = o.boundPods
    .filter((p) => p.metadata.name !== used && !p.metadata.deletionTimestamp)
    .map((p) => ({ type: 'delete-pod', pod: { name: p.metadata.name, uid: p.metadata.uid } }));
  const claimed = { name, podIPs: sandbox.status?.podIPs ?? [] };
  const finished = findCondition(sandbox.status?.conditions, SandboxConditionType.Finished);
  if (finished?.status === 'True') {
    return {
      actions: stray,
      status: statusWith(claim, {
        now,
        status: 'False',
        reason: ClaimReadyReason.SandboxFailed,
        message: finished.message || finished.reason,
        sandbox: claimed,
      }),
    };
  }
  const sandboxReady = findCondition(sandbox.status?.conditions, SandboxConditionType.Ready);
  if (sandboxReady?.status === 'True') return { actions: stray, status: readyStatus(claim, now, claimed) };
  if (sandboxReady?.reason === SandboxReadyReason.TemplateRejected) {
    return {
      actions: stray,
      status: statusWith(claim, {
        now,
        status: 'False',
        reason: ClaimReadyReason.TemplateRejected,
        message: `Sandbox ${name}: ${sandboxReady.message}`,
        sandbox: claimed,
      }),
    };
  }
  const why = sandboxReady?.message ? `: ${sandboxReady.message}` : '';
  return {
    actions: stray,
    status: statusWith(claim, {
      now,
      status: 'False',
      reason: ClaimReadyReason.SandboxNotReady,
      message: `Sandbox ${name} is not ready${why}`,
      sandbox: claimed,
    }),
  };
}

/** The claim's Sandbox as its status names it. */
interface ClaimedSandbox {
  readonly name: string;
  readonly podIPs: readonly string[];
}

interface ReadyUpdate {
  readonly now: Date;
  readonly status: 'True' | 'False';
  readonly reason: ClaimReason;
  readonly message: string;
  /** The Sandbox to name in the status; absent keeps what the status names now. */
  readonly sandbox?: ClaimedSandbox;
}

/**
 * The claim status with its Ready condition set as asked (merged into the other conditions), or
 * null when that is what it already is.
 */
function statusWith(claim: Readonly<Stored<SandboxClaim>>, update: ReadyUpdate): SandboxClaimStatus | null {
  const { list, changed } = setCondition(
    claim.status?.conditions,
    {
      type: ClaimConditionType.Ready,
      status: update.status,
      reason: update.reason,
      message: update.message,
      observedGeneration: claim.metadata.generation ?? 0,
    },
    update.now.toISOString(),
  );
  const current = claim.status?.sandbox;
  const { sandbox } = update;
  const sandboxChanged =
    sandbox !== undefined &&
    (current?.name !== sandbox.name || (current.podIPs ?? []).join() !== sandbox.podIPs.join());
  if (!changed && !sandboxChanged) return null;
  const named = sandbox ? { name: sandbox.name, podIPs: [...sandbox.podIPs] } : current;
  return { conditions: list, ...(named ? { sandbox: named } : {}) };
}

function readyStatus(
  claim: Readonly<Stored<SandboxClaim>>,
  now: Date,
  sandbox: ClaimedSandbox,
): SandboxClaimStatus | null {
  return statusWith(claim, {
    now,
    status: 'True',
    reason: ClaimReadyReason.SandboxReady,
    message: 'The sandbox is ready',
    sandbox,
  });
}

export interface BindStatuses {
  readonly sandbox: SandboxStatus;
  /** Null when the claim's status already says so. */
  readonly claim: SandboxClaimStatus | null;
}

/**
 * The statuses a warm bind writes as soon as it won `pod`: the Pod is Ready already, so the new
 * Sandbox and the claim can both say so now instead of waiting for the Sandbox reconciler's next
 * pass. Each Ready condition carries its own object's generation and is merged into the
 * conditions that object already has.
 */
export function bindStatuses(input: {
  readonly claim: Readonly<Stored<SandboxClaim>>;
  /** The Sandbox as the API server stored it. */
  readonly sandbox: Readonly<Stored<Sandbox>>;
  readonly pod: Readonly<Stored<Pod>>;
  readonly now: Date;
}): BindStatuses {
  const { claim, sandbox, pod, now } = input;
  const name = sandbox.metadata.name;
  const ips = podIPs(pod);
  const nodeName = podNodeName(pod);
  const { list } = setCondition(
    sandbox.status?.conditions,
    {
      type: SandboxConditionType.Ready,
      status: 'True',
      reason: SandboxReadyReason.DependenciesReady,
      message: `Pod ${pod.metadata.name} is Ready`,
      observedGeneration: sandbox.metadata.generation ?? 0,
    },
    now.toISOString(),
  );
  return {
    sandbox: {
      conditions: list,
      podIPs: ips,
      replicas: 1,
      selector: sandboxSelector(name),
      ...(nodeName ? { nodeName } : {}),
    },
    claim: readyStatus(claim, now, { name, podIPs: ips }),
  };
}
