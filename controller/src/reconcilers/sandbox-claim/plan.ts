/**
 * SandboxClaim — the hot path. Binds a warm Pod in one guarded write (done by `apply` from the
 * ordered candidates chosen here), or cold-starts at once; names the Sandbox after the claim;
 * mirrors the Sandbox into the claim's status; enforces the claim's lifecycle. Pure.
 *
 * Crash safety: the Pod's `claim-uid` label is the record of a bind. A claim with a bound Pod and
 * no Sandbox gets its Sandbox (pointing at that Pod) on the next pass, unless its status already
 * names one: that Sandbox was made and has been deleted since (`sandboxMissing`). A Pod is only
 * ever bound by a resourceVersion-guarded write, so two claims can never both win it.
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
  FINAL_CLAIM_REASONS,
  TERMINAL_CLAIM_REASONS,
  claimIntent,
  controllerOf,
  controllerRef,
  findCondition,
  nameHash,
  removeCondition,
  setCondition,
  type ClaimIntent,
  type ClaimIntentResult,
  type ClaimReadyReason as ClaimReason,
  type Condition,
  type PersistentVolumeClaimTemplate,
  type PodTemplate,
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
  mountsClaimsOf,
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
import {
  additionalMetadataProblem,
  claimVolumes,
  envProblem,
  podTemplateForClaim,
} from './pure-validation.js';

/** Upstream's launch-type label (beside Sandbank's), which upstream tools read on Sandboxes. */
const UPSTREAM_LAUNCH_TYPE = 'agents.x-k8s.io/launch-type';
/** Which client made the claim (`python-client`, `go-client`); upstream copies it to the Sandbox. */
const CREATED_BY = 'agents.x-k8s.io/created-by';

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
  /**
   * The plan stands on the claim's Sandbox being gone, which the cache alone cannot tell from a
   * cache that has not seen the Sandbox yet: apply reads it from the API server first, and does
   * nothing if it is there (its event brings the claim back).
   */
  readonly confirmSandboxGone?: true;
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
  // The status names the Sandbox only once the claim's own (by UID) was created or bound: it was, and
  // is gone now.
  const lost = claim.status?.sandbox?.name;
  if (lost) return { ...sandboxMissing(o, lost, now), ...requeue };

  // A Pod bound to this claim but no Sandbox: a bind whose next step did not happen. Repair it.
  const bound = [...o.boundPods].filter((p) => !p.metadata.deletionTimestamp).sort(byName)[0];
  if (bound && o.template) {
    return {
      actions: [
        {
          type: 'create-sandbox',
          sandbox: sandboxFor(o.claim, reattachBlueprint(o.claim, o.template), bound.metadata.name),
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

  const validated = validate(o, claimIntent(claim));
  // A terminal failure stays put (no writes, no events) while its cause remains; an expired
  // claim or a failed sandbox never comes back. Another cause (the missing pool appeared, its
  // template is missing) is reported as such.
  if (
    ready &&
    TERMINAL_CLAIM_REASONS.has(ready.reason as ClaimReason) &&
    ready.observedGeneration === claim.metadata.generation
  ) {
    const final = FINAL_CLAIM_REASONS.has(ready.reason as ClaimReason);
    const sameCause = !validated.valid && validated.reason === ready.reason;
    if (final || sameCause) return { actions: [], status: null, ...requeue };
  }
  if (!validated.valid) {
    const { reason, message } = validated;
    return {
      actions: [warningEvent(reason, message)],
      status: statusWith(claim, { now, status: 'False', reason, message }),
      ...requeue,
    };
  }

  const { blueprint } = validated;
  const cold = sandboxFor(claim, blueprint, undefined);
  // The Sandbox is named after the claim however it comes: its name is in the status from the
  // start (written only after the Sandbox's create or the bind succeeded, in this same pass).
  const pending = statusWith(claim, {
    now,
    status: 'False',
    reason: ClaimReadyReason.Pending,
    message: 'Binding a sandbox',
    sandbox: { name: claim.metadata.name, podIPs: [] },
  });
  const candidates = warmEligible(claim, validated.intent) ? candidatesFor(o, validated) : [];
  if (candidates.length === 0) {
    return {
      actions: [{ type: 'create-sandbox', sandbox: cold, launchType: 'cold' }],
      status: pending,
      ...requeue,
    };
  }
  return {
    actions: [{ type: 'bind-warm', candidates, sandbox: sandboxFor(claim, blueprint, ''), fallback: cold }],
    status: pending,
    ...requeue,
  };
}

/**
 * Whether the claim waits for a pool or template to appear (or to change): such a claim is
 * looked at again on every pool and template event of its namespace, since nothing else would
 * bring it back (a directory applied at once may list the claim before its pool).
 */
export function waitsForPoolOrTemplate(claim: Readonly<Stored<SandboxClaim>>): boolean {
  const reason = findCondition(claim.status?.conditions, ClaimConditionType.Ready)?.reason;
  return reason === ClaimReadyReason.WarmPoolNotFound || reason === ClaimReadyReason.TemplateNotFound;
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

/** What a claim's Sandbox is made of: its template, and the pod and volumes the claim gets from it. */
interface Blueprint {
  readonly template: Readonly<Stored<SandboxTemplate>>;
  /** The template's pod template with the claim's env and extra metadata merged in. */
  readonly podTemplate: PodTemplate;
  readonly volumeClaimTemplates: readonly PersistentVolumeClaimTemplate[];
}

/**
 * Whether the claim can be served as asked — with what it asked for, worked out once for the
 * rest of the pass: its intent, the pool it names (set exactly when `intent.warm` is `pool`) and
 * its blueprint — or the terminal reason it cannot.
 */
type Validated =
  | {
      readonly valid: true;
      readonly intent: ClaimIntent;
      readonly pool: Readonly<Stored<SandboxWarmPool>> | undefined;
      readonly blueprint: Blueprint;
    }
  | { readonly valid: false; readonly reason: ClaimReason; readonly message: string };

function validate(o: ClaimObserved, intent: ClaimIntentResult): Validated {
  const { claim, template } = o;
  const invalid = (reason: ClaimReason, message: string): Validated => ({ valid: false, reason, message });
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
  const volumes = claimVolumes(claim, template);
  if (!volumes.ok) return invalid(ClaimReadyReason.VolumeClaimTemplatesError, volumes.message);
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
  return {
    valid: true,
    intent,
    pool: named,
    blueprint: { template, podTemplate: pod, volumeClaimTemplates: volumes.templates },
  };
}

/**
 * The blueprint of a re-attach, which does not validate the claim (its Pod is bound already):
 * the template's volume claim templates when the claim's own cannot merge.
 */
function reattachBlueprint(
  claim: Readonly<Stored<SandboxClaim>>,
  template: Readonly<Stored<SandboxTemplate>>,
): Blueprint {
  const merged = claimVolumes(claim, template);
  return {
    template,
    podTemplate: podTemplateForClaim(claim, template),
    volumeClaimTemplates: merged.ok ? merged.templates : (template.spec.volumeClaimTemplates ?? []),
  };
}

/**
 * Env and the claim's own volumes change the Pod's spec, so a pre-started Pod cannot serve the
 * claim (as upstream: such claims start cold). Extra metadata does not: the bind's guarded Pod
 * write adds it. The template's volume claim templates do not either: pool members are made with
 * their claims mounted (and `candidatesFor` skips any that are not).
 */
function warmEligible(claim: Readonly<Stored<SandboxClaim>>, intent: ClaimIntent): boolean {
  return (
    intent.warm !== 'none' &&
    (claim.spec.env ?? []).length === 0 &&
    (claim.spec.volumeClaimTemplates ?? []).length === 0
  );
}

/**
 * Ready, unclaimed pool Pods of the claim's template (and pool, if it names one): fresh ones
 * (current pod template) first, each group rotated by a hash of the claim's UID so concurrent
 * claims start at different Pods and rarely race for the same one. Only for a claim `validate`
 * accepted and `warmEligible` let through: the pool it names exists.
 */
function candidatesFor(o: ClaimObserved, served: Extract<Validated, { valid: true }>): PodRef[] {
  const { template } = served.blueprint;
  // A named pool: members of that pool object only, by UID (a pool deleted and made again under
  // the same name does not hand its old members on); none named: members of any pool of the namespace.
  const poolUids = new Set((served.pool ? [served.pool] : o.pools).map((p) => p.metadata.uid));
  const currentHash = podTemplateHash(template.spec.podTemplate);
  const usable = o.templatePods.filter((pod) => {
    const owner = pod.metadata.ownerReferences?.find(
      (r) => r.controller && r.kind === SANDBOX_WARM_POOL_KIND,
    );
    if (!owner || !poolUids.has(owner.uid) || pod.metadata.labels?.[Labels.claimUid]) return false;
    // A member made before the template gained or lost a volume claim template lacks its
    // volumes until the pool replaces it; binding it would leave the claim without them.
    return isPodReady(pod) && mountsClaimsOf(pod, template.spec.volumeClaimTemplates ?? []);
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
function sandboxFor(
  claim: Readonly<Stored<SandboxClaim>>,
  blueprint: Blueprint,
  podName: string | undefined,
): Sandbox {
  const { template, volumeClaimTemplates } = blueprint;
  const traceContext = claim.metadata.annotations?.[Annotations.traceContext];
  const createdBy = claim.metadata.labels?.[CREATED_BY];
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
        [UPSTREAM_LAUNCH_TYPE]: podName === undefined ? 'cold' : 'warm',
        ...(createdBy ? { [CREATED_BY]: createdBy } : {}),
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
      // With the claim's env and extra metadata also on a warm bind: a Pod made again for this
      // Sandbox (a resume) must look like the one the claim got.
      podTemplate: blueprint.podTemplate,
      ...(volumeClaimTemplates.length > 0 ? { volumeClaimTemplates: [...volumeClaimTemplates] } : {}),
      operatingMode: 'Running',
      shutdownPolicy: 'Retain',
      ...(template.spec.service === undefined ? {} : { service: template.spec.service }),
    },
  };
}

/**
 * The Pod of a bind: out of the pool, labelled for the claim, owned by it, with the claim's
 * `additionalPodMetadata` (validated like a cold start's: no reserved keys, no clash with the
 * template's) in the same guarded write. Pure.
 */
export function boundPod(pod: Readonly<Stored<Pod>>, claim: Readonly<Stored<SandboxClaim>>): Pod {
  const extra = claim.spec.additionalPodMetadata;
  const labels = Object.fromEntries(
    Object.entries(pod.metadata.labels ?? {}).filter(([key]) => key !== Labels.pool),
  );
  Object.assign(labels, extra?.labels);
  labels[Labels.claimUid] = claim.metadata.uid;
  labels[Labels.sandboxNameHash] = nameHash(claim.metadata.name);
  const annotations = { ...pod.metadata.annotations, ...extra?.annotations };
  return {
    ...structuredClone(pod),
    metadata: {
      ...structuredClone(pod.metadata),
      labels,
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
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

/**
 * Claim status once its Sandbox exists: the Sandbox's Ready condition copied verbatim (status,
 * reason, message; the claim's own generation), as upstream v1beta1 does, so a client that knows
 * the Sandbox's reasons (PodFailed, SandboxExpired, …) sees them on the claim; its `Finished`
 * mirrored; its name, IPs and Service in `status.sandbox`.
 */
function mirrorSandbox(o: ClaimObserved, sandbox: Readonly<Stored<Sandbox>>, now: Date): ClaimPlan {
  const { claim } = o;
  const name = sandbox.metadata.name;
  if (controllerOf(sandbox.metadata)?.uid !== claim.metadata.uid) {
    // A Pod this claim bound before it found the name taken would otherwise stay out of the pool
    // for as long as the other Sandbox keeps the name.
    return {
      actions: releaseBoundPods(o),
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
  const stray = releaseBoundPods(o, used);
  const claimed = claimedOf(sandbox);
  const finished = findCondition(sandbox.status?.conditions, SandboxConditionType.Finished);
  const sandboxReady = findCondition(sandbox.status?.conditions, SandboxConditionType.Ready);
  const ready: ReadyUpdate = sandboxReady
    ? {
        now,
        status: sandboxReady.status === 'True' ? 'True' : 'False',
        reason: sandboxReady.reason as ForwardedReason,
        message: sandboxReady.message,
        sandbox: claimed,
        finished: finished ?? null,
      }
    : {
        now,
        status: 'False',
        reason: ClaimReadyReason.SandboxNotReady,
        message: `Sandbox ${name} has not reported Ready yet`,
        sandbox: claimed,
        finished: finished ?? null,
      };
  return { actions: stray, status: statusWith(claim, ready) };
}

/**
 * A bound claim whose Sandbox was deleted: Ready=False/SandboxMissing (upstream's reason; upstream
 * then makes another Sandbox, Sandbank does not). What its client left in the sandbox (files,
 * processes) was in that Sandbox's Pod; a new one (cold, or a pool member) would answer to the
 * same name with none of it, and a client reconnecting by name would carry on against it without
 * noticing. A Pod still bound to it is not re-attached either: it belonged to the deleted
 * Sandbox, which its user meant to end, and the garbage collector is taking it; one the Sandbox
 * never adopted (it went before it could) would stay forever, so it is released. The claim stays
 * so until it is deleted (or expires); a new claim gets a new sandbox. A final reason (the Pod
 * failed or succeeded, the sandbox expired) stays: the sandbox was over before it went.
 */
function sandboxMissing(o: ClaimObserved, name: string, now: Date): ClaimPlan {
  const { claim } = o;
  const ready = findCondition(claim.status?.conditions, ClaimConditionType.Ready);
  if (ready && FINAL_CLAIM_REASONS.has(ready.reason as ClaimReason)) return { actions: [], status: null };
  const message = `Sandbox ${name} no longer exists; the claim does not get another one: delete the claim and create a new one for a new sandbox`;
  const release = releaseBoundPods(o);
  const announce: ClaimAction[] =
    ready?.reason === ClaimReadyReason.SandboxMissing
      ? []
      : [warningEvent(ClaimReadyReason.SandboxMissing, message)];
  const status = statusWith(claim, {
    now,
    status: 'False',
    reason: ClaimReadyReason.SandboxMissing,
    message,
    sandbox: { name, podIPs: [] },
  });
  const actions = [...release, ...announce];
  if (actions.length === 0 && !status) return { actions, status };
  return { actions, status, confirmSandboxGone: true };
}

/**
 * Deletes of the Pods this claim bound and no longer needs (all but `keep`). Only Pods the claim
 * controls, by UID: the claim-uid label alone is anyone's to set, and a Pod its Sandbox adopted
 * goes with that Sandbox.
 */
function releaseBoundPods(o: ClaimObserved, keep?: string): ClaimAction[] {
  return o.boundPods
    .filter(
      (p) =>
        p.metadata.name !== keep &&
        !p.metadata.deletionTimestamp &&
        controllerOf(p.metadata)?.uid === o.claim.metadata.uid,
    )
    .map((p) => ({ type: 'delete-pod', pod: { name: p.metadata.name, uid: p.metadata.uid } }));
}

/** The claim's view of its Sandbox, from the Sandbox's status. */
function claimedOf(sandbox: Readonly<Stored<Sandbox>>): ClaimedSandbox {
  const fqdn = sandbox.status?.serviceFQDN;
  return {
    name: sandbox.metadata.name,
    podIPs: sandbox.status?.podIPs ?? [],
    ...(fqdn ? { serviceFQDN: fqdn } : {}),
  };
}

/** The claim's Sandbox as its status names it. */
interface ClaimedSandbox {
  readonly name: string;
  readonly podIPs: readonly string[];
  readonly serviceFQDN?: string;
}

/** The claim's own reasons, and the Sandbox's, which a claim forwards as they are. */
type ForwardedReason = ClaimReason | SandboxReadyReason;

interface ReadyUpdate {
  readonly now: Date;
  readonly status: 'True' | 'False';
  readonly reason: ForwardedReason;
  readonly message: string;
  /** The Sandbox to name in the status; absent keeps what the status names now. */
  readonly sandbox?: ClaimedSandbox;
  /** The Sandbox's Finished condition to mirror (null: it has none); absent leaves the claim's. */
  readonly finished?: Condition | null;
}

/**
 * The claim status with its Ready condition set as asked (merged into the other conditions), or
 * null when that is what it already is.
 */
function statusWith(claim: Readonly<Stored<SandboxClaim>>, update: ReadyUpdate): SandboxClaimStatus | null {
  const generation = claim.metadata.generation ?? 0;
  const nowIso = update.now.toISOString();
  const ready = setCondition(
    claim.status?.conditions,
    {
      type: ClaimConditionType.Ready,
      status: update.status,
      reason: update.reason,
      message: update.message,
      observedGeneration: generation,
    },
    nowIso,
  );
  let { list, changed } = ready;
  if (update.finished) {
    const { status, reason, message } = update.finished;
    const next = setCondition(
      list,
      { type: SandboxConditionType.Finished, status, reason, message, observedGeneration: generation },
      nowIso,
    );
    list = next.list;
    changed ||= next.changed;
  } else if (update.finished === null) {
    const next = removeCondition(list, SandboxConditionType.Finished);
    list = next.list;
    changed ||= next.changed;
  }
  const current = claim.status?.sandbox;
  const { sandbox } = update;
  const sandboxChanged =
    sandbox !== undefined &&
    (current?.name !== sandbox.name ||
      (current.podIPs ?? []).join() !== sandbox.podIPs.join() ||
      current.serviceFQDN !== sandbox.serviceFQDN);
  if (!changed && !sandboxChanged) return null;
  const named = sandbox
    ? {
        name: sandbox.name,
        podIPs: [...sandbox.podIPs],
        ...(sandbox.serviceFQDN ? { serviceFQDN: sandbox.serviceFQDN } : {}),
      }
    : current;
  return { conditions: list, ...(named ? { sandbox: named } : {}) };
}

export interface BindStatuses {
  readonly sandbox: SandboxStatus;
  /** Null when the claim's status already says so. */
  readonly claim: SandboxClaimStatus | null;
}

/**
 * The statuses a warm bind writes as soon as it won `pod`: the Pod is Ready already, so the new
 * Sandbox and the claim can both say so now instead of waiting for the Sandbox reconciler's next
 * pass — the claim in one write that names the Sandbox and forwards its Ready. Each Ready
 * condition carries its own object's generation and is merged into the conditions that object
 * already has. A Sandbox that wants a Service is not Ready until the Service exists: its
 * reconciler makes it and says so.
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
  const waitsForService = sandbox.spec.service === true;
  const ready = waitsForService
    ? {
        status: 'False' as const,
        reason: SandboxReadyReason.DependenciesNotReady,
        message: 'Service does not exist',
      }
    : {
        status: 'True' as const,
        reason: SandboxReadyReason.DependenciesReady,
        message: `Pod ${pod.metadata.name} is Ready`,
      };
  const { list } = setCondition(
    sandbox.status?.conditions,
    { type: SandboxConditionType.Ready, ...ready, observedGeneration: sandbox.metadata.generation ?? 0 },
    now.toISOString(),
  );
  const podIPsNow = waitsForService ? [] : ips;
  return {
    sandbox: {
      conditions: list,
      podIPs: podIPsNow,
      replicas: 1,
      selector: sandboxSelector(name),
      ...(nodeName ? { nodeName } : {}),
    },
    claim: statusWith(claim, { now, ...ready, sandbox: { name, podIPs: podIPsNow }, finished: null }),
  };
}
