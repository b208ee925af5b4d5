/**
 * Sandbox: exactly one Pod — a warm Pod adopted through a claim (named by the `pod-name`
 * annotation) or, on a cold start, a Pod of the Sandbox's own name — plus optional headless
 * Service and volume claims, suspend (`operatingMode: Suspended`), expiry, and the status clients wait on.
 * Pure.
 */
import {
  Annotations,
  Labels,
  SANDBOX_API_VERSION,
  SANDBOX_KIND,
  SandboxConditionType,
  SandboxReadyReason,
  SandboxSuspendedReason,
  controllerOf,
  controllerRef,
  findCondition,
  nameHash,
  removeCondition,
  setCondition,
  CONDITION_MESSAGE_MAX_CHARS,
  Condition,
  type ConditionStatus,
  type ConditionUpdate,
  type ObjectMeta,
  type OwnerReference,
  type PersistentVolumeClaimTemplate,
  type Pod,
  type Sandbox,
  type SandboxStatus,
  type Stored,
} from '@sandbank/api';
import {
  isPodReady,
  isPodTerminal,
  podFailureMessage,
  podFromTemplate,
  podIPs,
  podNodeName,
  sandboxSelector,
  volumeClaimName,
  withClaimVolumes,
} from '../shared/pure-pods.js';
import {
  defaultRuntimeClass,
  describeViolations,
  profileViolations,
  type SandboxProfile,
} from '../shared/pure-profile.js';

export interface SandboxObserved {
  readonly sandbox: Readonly<Stored<Sandbox>>;
  /** The Pod named by the annotation, or by the Sandbox's own name. */
  readonly pod: Readonly<Stored<Pod>> | undefined;
  /** Whether the headless Service named like the Sandbox exists, and who controls it. */
  readonly service: { readonly controllerUid: string | undefined } | undefined;
  /** The PersistentVolumeClaims that exist in the namespace among the ones wanted, by name. */
  readonly existingClaims: ReadonlyMap<string, ExistingClaim>;
  /** The cluster's DNS domain, for serviceFQDN. */
  readonly clusterDomain: string;
  /** The sandbox profile of the Sandbox's namespace. */
  readonly profile: SandboxProfile;
}

/** A PersistentVolumeClaim as far as the plan cares: who controls it, at which version. */
export interface ExistingClaim {
  readonly metadata: ObjectMeta & { readonly name: string; readonly resourceVersion: string };
}

/** A Service or PersistentVolumeClaim to create: named metadata and an opaque spec. */
export interface ChildObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta & { readonly name: string };
  readonly spec: unknown;
}

export type SandboxAction =
  | { readonly type: 'create-pod'; readonly pod: Pod }
  | { readonly type: 'adopt-pod'; readonly pod: Pod }
  | { readonly type: 'delete-pod'; readonly name: string; readonly uid: string }
  | { readonly type: 'create-service'; readonly service: ChildObject }
  | { readonly type: 'delete-service'; readonly name: string }
  | { readonly type: 'create-pvc'; readonly pvc: ChildObject }
  /** Take over a claim the adopted warm Pod controls, at the version seen (a merge patch). */
  | {
      readonly type: 'adopt-pvc';
      readonly name: string;
      readonly resourceVersion: string;
      readonly labels: Readonly<Record<string, string>>;
      readonly ownerReferences: readonly OwnerReference[];
    }
  | { readonly type: 'delete-sandbox' };

export interface SandboxPlan {
  readonly actions: readonly SandboxAction[];
  readonly status: SandboxStatus | null;
  readonly requeueAfterMs?: number;
}

export function podNameOf(sandbox: Readonly<Stored<Sandbox>>): string {
  return sandbox.metadata.annotations?.[Annotations.podName] || sandbox.metadata.name;
}

export function planSandbox(o: SandboxObserved, now: Date): SandboxPlan {
  const { sandbox, pod } = o;
  if (sandbox.metadata.deletionTimestamp) return { actions: [], status: null };
  const name = sandbox.metadata.name;
  const uid = sandbox.metadata.uid;
  const nowIso = now.toISOString();
  const conditions = new StatusBuilder(sandbox, nowIso);
  const actions: SandboxAction[] = [];
  const deletePod = (p: Readonly<Stored<Pod>>) =>
    actions.push({ type: 'delete-pod', name: p.metadata.name, uid: p.metadata.uid });
  const podIsOurs = pod !== undefined && belongsTo(pod, sandbox);
  // What the scheduler said about the Pod, for clients that wait on it (upstream copies it). Only
  // of our own Pod: a Pod of the same name that is someone else's is not this Sandbox's business.
  conditions.copyPodScheduled(podIsOurs ? pod : undefined);
  // A warm Pod's volume claims are controlled by the Pod: they become the Sandbox's before
  // anything here deletes the Pod, or the garbage collector would take them along.
  const claimAdoptions = pod && podIsOurs ? adoptClaimsOf(pod, o) : [];
  const deleteOurPod = (p: Readonly<Stored<Pod>>) => {
    if (claimAdoptions.length > 0) actions.push(...claimAdoptions);
    else deletePod(p);
  };

  // Expiry.
  const shutdown = sandbox.spec.shutdownTime ? Date.parse(sandbox.spec.shutdownTime) : undefined;
  if (shutdown !== undefined && shutdown <= now.getTime()) {
    if (sandbox.spec.shutdownPolicy === 'Delete')
      return { actions: [{ type: 'delete-sandbox' }], status: null };
    if (pod && podIsOurs && !pod.metadata.deletionTimestamp) deleteOurPod(pod);
    if (o.service?.controllerUid === uid) actions.push({ type: 'delete-service', name });
    conditions.set(
      SandboxConditionType.Ready,
      'False',
      SandboxReadyReason.SandboxExpired,
      'The sandbox passed its shutdownTime',
    );
    return { actions, status: conditions.build({ podIPs: [], replicas: 0 }) };
  }
  const requeue = shutdown === undefined ? {} : { requeueAfterMs: shutdown - now.getTime() };
  // The Service in the status whenever it exists and is not being removed, also when `service`
  // is unset (upstream keeps and uses an existing one then): clients dial serviceFQDN.
  if (o.service && sandbox.spec.service !== false) {
    conditions.service = { name, fqdn: `${name}.${sandbox.metadata.namespace}.svc.${o.clusterDomain}` };
  }

  if (pod && !podIsOurs) {
    conditions.set(
      SandboxConditionType.Ready,
      'False',
      SandboxReadyReason.DependenciesNotReady,
      `Pod ${pod.metadata.name} exists but belongs to something else`,
    );
    return { actions, status: conditions.build({ podIPs: [], replicas: 0 }), ...requeue };
  }
  // A warm Pod still owned by the claim that bound it: the Sandbox takes it over, so that
  // deleting the Sandbox (or its expiry) also removes the Pod.
  if (pod && podIsOurs && controllerOf(pod.metadata)?.uid !== uid) {
    actions.push({ type: 'adopt-pod', pod: adopted(pod, sandbox) });
  }

  // Suspend.
  if (sandbox.spec.operatingMode === 'Suspended') {
    if (pod && !pod.metadata.deletionTimestamp) deleteOurPod(pod);
    conditions.set(
      SandboxConditionType.Ready,
      'False',
      SandboxReadyReason.SandboxSuspended,
      'operatingMode is Suspended',
    );
    if (pod)
      conditions.set(
        SandboxConditionType.Suspended,
        'False',
        SandboxSuspendedReason.PodTerminating,
        `Pod ${pod.metadata.name} is terminating`,
      );
    else
      conditions.set(
        SandboxConditionType.Suspended,
        'True',
        SandboxSuspendedReason.PodTerminated,
        'The Pod is gone; the sandbox and its volumes stay',
      );
    return { actions, status: conditions.build({ podIPs: [], replicas: 0 }), ...requeue };
  }
  // Resume. A Pod missing because we deleted it for a suspend is not lost: its successor is made
  // under the same name (the one the router and the claim look up), once the old one has gone.
  const resuming = isResuming(sandbox);
  const oldPodLeaving = resuming.suspendedPodLeaving && pod?.metadata.deletionTimestamp !== undefined;
  // Once suspended, the condition stays and says False from now on (as upstream), never a stale True.
  if (findCondition(sandbox.status?.conditions, SandboxConditionType.Suspended) && !oldPodLeaving)
    conditions.set(SandboxConditionType.Suspended, 'False', SandboxSuspendedReason.NotSuspended, RESUMED);

  // Volumes and Service, before the Pod that mounts them.
  actions.push(...claimAdoptions);
  for (const pvc of wantedClaims(sandbox)) {
    if (!o.existingClaims.has(pvc.metadata.name)) actions.push({ type: 'create-pvc', pvc });
  }
  const wantsService = sandbox.spec.service === true;
  if (wantsService && !o.service) actions.push({ type: 'create-service', service: headlessService(sandbox) });
  if (sandbox.spec.service === false && o.service?.controllerUid === uid)
    actions.push({ type: 'delete-service', name });

  const finished = findCondition(sandbox.status?.conditions, SandboxConditionType.Finished);
  if (!pod) {
    const previouslyReady =
      findCondition(sandbox.status?.conditions, SandboxConditionType.Ready)?.status === 'True';
    const adoptedPod = Boolean(sandbox.metadata.annotations?.[Annotations.podName]);
    const lost = previouslyReady || (adoptedPod && !resuming.podPending);
    if (finished?.status !== 'True' && lost) {
      // A sandbox's processes and files live in its Pod: a lost Pod is not silently replaced.
      const message = `Pod ${podNameOf(sandbox)} was deleted or evicted; a sandbox does not restart`;
      conditions.set(SandboxConditionType.Finished, 'True', SandboxReadyReason.PodFailed, message);
      conditions.set(SandboxConditionType.Ready, 'False', SandboxReadyReason.PodFailed, message);
    } else if (finished?.status !== 'True') {
      const pod = coldPod(sandbox, o.profile, podNameOf(sandbox));
      // Checked as it would be created, defaults applied: what the admission policy would see.
      const violations = profileViolations(pod, o.profile);
      if (violations.length > 0) {
        conditions.set(
          SandboxConditionType.Ready,
          'False',
          SandboxReadyReason.TemplateRejected,
          `The pod template breaks the sandbox profile: ${describeViolations(violations)}`,
        );
      } else {
        actions.push({ type: 'create-pod', pod });
        conditions.set(
          SandboxConditionType.Ready,
          'False',
          SandboxReadyReason.DependenciesNotReady,
          `Creating Pod ${podNameOf(sandbox)}`,
        );
      }
    }
    return { actions, status: conditions.build({ podIPs: [], replicas: 0 }), ...requeue };
  }

  if (oldPodLeaving) {
    // Whatever phase the kubelet gives the Pod we deleted, it ended by our suspend, not by failing.
    conditions.set(
      SandboxConditionType.Ready,
      'False',
      SandboxReadyReason.DependenciesNotReady,
      `Resuming: waiting for Pod ${pod.metadata.name} to terminate`,
    );
    return { actions, status: conditions.build({ podIPs: [], replicas: 0 }), ...requeue };
  }

  if (isPodTerminal(pod)) {
    const reason =
      pod.status?.phase === 'Succeeded' ? SandboxReadyReason.PodSucceeded : SandboxReadyReason.PodFailed;
    const message = podFailureMessage(pod);
    conditions.set(SandboxConditionType.Finished, 'True', reason, message);
    conditions.set(SandboxConditionType.Ready, 'False', reason, message);
    return {
      actions,
      status: conditions.build({ podIPs: [], replicas: 1, nodeName: podNodeName(pod) }),
      ...requeue,
    };
  }

  // The IPs whenever the Pod has them, Ready or not, as upstream (clients wait on Ready anyway).
  // Never while it is being deleted: its IP is about to be released and may then be another
  // Pod's. A Pod that is not ours never gets here.
  const ips = pod.metadata.deletionTimestamp ? [] : podIPs(pod);
  const missing: string[] = [];
  if (pod.metadata.deletionTimestamp) missing.push(`Pod ${pod.metadata.name} is terminating`);
  else if (pod.status?.phase !== 'Running')
    missing.push(`Pod exists with phase ${pod.status?.phase ?? 'Unknown'}`);
  else if (!isPodReady(pod)) missing.push('Pod is Running but not Ready');
  else if (ips.length === 0) missing.push('Pod is Ready but has no IP yet');
  if (wantsService && !o.service) missing.push('Service does not exist');
  if (missing.length === 0) {
    conditions.set(
      SandboxConditionType.Ready,
      'True',
      SandboxReadyReason.DependenciesReady,
      `Pod ${pod.metadata.name} is Ready`,
    );
  } else {
    conditions.set(
      SandboxConditionType.Ready,
      'False',
      SandboxReadyReason.DependenciesNotReady,
      missing.join('; '),
    );
  }
  return {
    actions,
    status: conditions.build({
      podIPs: ips,
      replicas: 1,
      nodeName: podNodeName(pod),
    }),
    ...requeue,
  };
}

const RESUMED = 'operatingMode is Running';

/**
 * Where a suspend left the Sandbox, read from the status it last wrote (the spec says run).
 * `suspendedPodLeaving`: the suspend deleted the Pod, or was deleting it; a Pod of that name still
 * terminating is the old one. `podPending`: the Pod to run on is ours to create, not lost — the
 * suspend completed or was completing, or the resume was decided and its Pod has not been seen
 * since (status `replicas` 1 is written only once the Sandbox saw a Pod). A suspend keeps
 * `Suspended` on the Sandbox for good, so a warm-bound Sandbox that was never suspended has none
 * and its missing Pod stays lost.
 */
function isResuming(sandbox: Readonly<Stored<Sandbox>>): {
  readonly suspendedPodLeaving: boolean;
  readonly podPending: boolean;
} {
  const conditions = sandbox.status?.conditions;
  const suspended = findCondition(conditions, SandboxConditionType.Suspended);
  const ready = findCondition(conditions, SandboxConditionType.Ready);
  const suspendedPodLeaving =
    suspended?.status === 'True' ||
    suspended?.reason === SandboxSuspendedReason.PodTerminating ||
    ready?.reason === SandboxReadyReason.SandboxSuspended;
  const resumeUnseen =
    suspended?.reason === SandboxSuspendedReason.NotSuspended && sandbox.status?.replicas !== 1;
  return { suspendedPodLeaving, podPending: suspendedPodLeaving || resumeUnseen };
}

/** The wanted claims that `pod` (the Sandbox's) still controls, taken over by the Sandbox. */
function adoptClaimsOf(pod: Readonly<Stored<Pod>>, o: SandboxObserved): SandboxAction[] {
  const { sandbox } = o;
  return sandboxVolumes(sandbox).flatMap(({ claimName }): SandboxAction[] => {
    const claim = o.existingClaims.get(claimName);
    const owner = controllerOf(claim?.metadata);
    if (!claim || owner?.kind !== 'Pod' || owner.uid !== pod.metadata.uid) return [];
    return [
      {
        type: 'adopt-pvc',
        name: claimName,
        resourceVersion: claim.metadata.resourceVersion,
        labels: { [Labels.sandboxNameHash]: nameHash(sandbox.metadata.name) },
        ownerReferences: [sandboxRef(sandbox)],
      },
    ];
  });
}

/** The Sandbox's own Pod, or a warm Pod bound to the claim that owns the Sandbox. */
function belongsTo(pod: Readonly<Stored<Pod>>, sandbox: Readonly<Stored<Sandbox>>): boolean {
  const owner = controllerOf(pod.metadata);
  if (owner?.uid === sandbox.metadata.uid) return true;
  const sandboxOwner = controllerOf(sandbox.metadata);
  const claimUid = pod.metadata.labels?.[Labels.claimUid];
  return (
    owner !== undefined &&
    sandboxOwner !== undefined &&
    owner.uid === sandboxOwner.uid &&
    claimUid === sandboxOwner.uid
  );
}

function sandboxRef(sandbox: Readonly<Stored<Sandbox>>) {
  return controllerRef({ apiVersion: SANDBOX_API_VERSION, kind: SANDBOX_KIND, metadata: sandbox.metadata });
}

function adopted(pod: Readonly<Stored<Pod>>, sandbox: Readonly<Stored<Sandbox>>): Pod {
  return {
    ...structuredClone(pod),
    metadata: {
      ...structuredClone(pod.metadata),
      labels: { ...pod.metadata.labels, [Labels.sandboxNameHash]: nameHash(sandbox.metadata.name) },
      ownerReferences: [sandboxRef(sandbox)],
    },
  };
}

export interface SandboxVolume {
  readonly template: PersistentVolumeClaimTemplate;
  /** The volume's name in the Pod: the template's. */
  readonly volume: string;
  /** The PersistentVolumeClaim behind it: `<template>-<pod>` (`volumeClaimName`). */
  readonly claimName: string;
}

/**
 * The volumes a Sandbox's volume claim templates give its Pod. A template's name is optional in
 * the schema (as upstream); without one the names are ones the API server refuses, and the
 * writes fail where the user sees them.
 */
export function sandboxVolumes(sandbox: Readonly<Stored<Sandbox>>): SandboxVolume[] {
  return (sandbox.spec.volumeClaimTemplates ?? []).map((template) => {
    const volume = template.metadata.name ?? '';
    return { template, volume, claimName: volumeClaimName(template, podNameOf(sandbox)) };
  });
}

function wantedClaims(sandbox: Readonly<Stored<Sandbox>>): ChildObject[] {
  return sandboxVolumes(sandbox).map(({ template, claimName }) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: claimName,
      labels: { ...template.metadata.labels, [Labels.sandboxNameHash]: nameHash(sandbox.metadata.name) },
      ...(template.metadata.annotations ? { annotations: template.metadata.annotations } : {}),
      ownerReferences: [sandboxRef(sandbox)],
    },
    spec: template.spec,
  }));
}

/**
 * A Pod the Sandbox makes itself, its volume claims mounted by template name: named like the
 * Sandbox on a cold start, like the warm Pod it replaces on a resume (`podName`).
 */
export function coldPod(sandbox: Readonly<Stored<Sandbox>>, profile: SandboxProfile, podName: string): Pod {
  const name = sandbox.metadata.name;
  const claimUid = sandbox.metadata.labels?.[Labels.claimUid];
  const body = podFromTemplate({
    template: sandbox.spec.podTemplate,
    defaultRuntimeClass: defaultRuntimeClass(profile),
    templateName: sandbox.metadata.annotations?.[Annotations.sandboxTemplateRef],
    owner: sandboxRef(sandbox),
    labels: {
      [Labels.sandboxNameHash]: nameHash(name),
      ...(claimUid ? { [Labels.claimUid]: claimUid } : {}),
    },
  });
  return withClaimVolumes(body, podName, sandbox.spec.volumeClaimTemplates ?? []);
}

function headlessService(sandbox: Readonly<Stored<Sandbox>>): ChildObject {
  const name = sandbox.metadata.name;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      labels: { [Labels.sandboxNameHash]: nameHash(name) },
      ownerReferences: [sandboxRef(sandbox)],
    },
    spec: { clusterIP: 'None', selector: { [Labels.sandboxNameHash]: nameHash(name) } },
  };
}

/** The reasons of a copied PodScheduled when the Pod gives none usable. */
const POD_SCHEDULED = 'PodScheduled';
const POD_NOT_SCHEDULED = 'PodNotScheduled';

/** Accumulates condition changes and builds the status to write, or null when nothing changed. */
class StatusBuilder {
  private conditions: Condition[];
  private changed = false;
  /** The Service to report, whatever the Pod does. */
  service: { readonly name: string; readonly fqdn: string } | undefined;
  constructor(
    private readonly sandbox: Readonly<Stored<Sandbox>>,
    private readonly nowIso: string,
  ) {
    this.conditions = [...(sandbox.status?.conditions ?? [])];
  }

  set(type: string, status: ConditionStatus, reason: string, message: string): void {
    const update: ConditionUpdate = {
      type,
      status,
      reason,
      message,
      observedGeneration: this.sandbox.metadata.generation ?? 0,
    };
    const next = setCondition(this.conditions, update, this.nowIso);
    this.conditions = next.list;
    this.changed ||= next.changed;
  }

  /**
   * The Sandbox's PodScheduled condition as the Pod's, or none without a Pod (or without the
   * condition on it yet). A Pod's reason is free text and may be empty (the kubelet's True has
   * none); a condition's reason is a CamelCase word, so an unusable one is replaced.
   */
  copyPodScheduled(pod: Readonly<Pod> | undefined): void {
    const source = pod?.status?.conditions?.find((c) => c.type === SandboxConditionType.PodScheduled);
    if (!source) {
      this.remove(SandboxConditionType.PodScheduled);
      return;
    }
    const status: ConditionStatus =
      source.status === 'True' || source.status === 'False' ? source.status : 'Unknown';
    const reason =
      source.reason && Condition.shape.reason.safeParse(source.reason).success
        ? source.reason
        : status === 'True'
          ? POD_SCHEDULED
          : POD_NOT_SCHEDULED;
    // By code point, so a cut never leaves half a surrogate pair.
    const message = Array.from(source.message ?? '')
      .slice(0, CONDITION_MESSAGE_MAX_CHARS)
      .join('');
    this.set(SandboxConditionType.PodScheduled, status, reason, message);
  }

  remove(type: string): void {
    const next = removeCondition(this.conditions, type);
    this.conditions = next.list;
    this.changed ||= next.changed;
  }

  build(fields: { podIPs: string[]; replicas: number; nodeName?: string | undefined }): SandboxStatus | null {
    const name = this.sandbox.metadata.name;
    const service = this.service;
    const next: SandboxStatus = {
      conditions: this.conditions,
      podIPs: fields.podIPs,
      replicas: fields.replicas,
      selector: sandboxSelector(name),
      ...(fields.nodeName ? { nodeName: fields.nodeName } : {}),
      ...(service ? { service: service.name, serviceFQDN: service.fqdn } : {}),
    };
    const current = this.sandbox.status ?? {};
    const same =
      !this.changed &&
      (current.podIPs ?? []).join() === next.podIPs?.join() &&
      current.replicas === next.replicas &&
      current.selector === next.selector &&
      current.nodeName === next.nodeName &&
      current.service === next.service &&
      current.serviceFQDN === next.serviceFQDN;
    return same ? null : next;
  }
}
