/**
 * Pods as Sandbank makes and reads them: secure defaults, the labels that tie a Pod to its pool,
 * template and sandbox, and readiness. Pure: no I/O, no clock.
 */
import {
  Labels,
  nameHash,
  type ObjectMeta,
  type PersistentVolumeClaimTemplate,
  type Pod,
  type PodSpec,
  type PodTemplate,
  type OwnerReference,
  type Stored,
} from '@sandbank/api';
import { stableJson } from './pure-json.js';

type Json = Record<string, unknown>;

function asObject(value: unknown): Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...(value as Json) } : {};
}

/** A copy of the pod spec's volumes: the schema keeps them opaque, so not typed further. */
function volumesOf(spec: PodSpec): unknown[] {
  return Array.isArray(spec['volumes']) ? [...(spec['volumes'] as unknown[])] : [];
}

/** Where the runtime image keeps its workspace (runtime-image/src/config.ts) unless told otherwise. */
export const WORKSPACE_PATH = '/workspace';
/** The variables the agent reads its workspace from, in its order of preference. */
const WORKSPACE_VARIABLES = ['SANDBANK_AGENT_WORKSPACE', 'SANDBOX_BASE_DIR'];

/**
 * DESIGN §4 secure defaults and the sandbox profile's (docs/sandbox-profile.md), each applied
 * only where the template left the field unset, so a template can still say otherwise where the
 * profile lets it: the first allowed runtime class, no service-account token, non-root, seccomp
 * RuntimeDefault, and per container no privilege escalation and a read-only root filesystem.
 * Dropping ALL capabilities is not a default but a rule: ALL joins any drop list (a template adds
 * back what it needs, within the allowlist). A read-only container gets writable emptyDirs at its
 * workspace and /tmp unless it mounts something there itself.
 */
export function withSecureDefaults(spec: PodSpec, defaultRuntimeClass: string): PodSpec {
  const podSecurity = asObject(spec['securityContext']);
  if (podSecurity['runAsNonRoot'] === undefined) podSecurity['runAsNonRoot'] = true;
  if (podSecurity['seccompProfile'] === undefined) podSecurity['seccompProfile'] = { type: 'RuntimeDefault' };
  const volumes = volumesOf(spec);
  const scratch = new ScratchVolumes(volumes);
  const secureContainer = <C extends Json>(container: C): C => {
    const sc = asObject(container['securityContext']);
    if (sc['allowPrivilegeEscalation'] === undefined) sc['allowPrivilegeEscalation'] = false;
    if (sc['readOnlyRootFilesystem'] === undefined) sc['readOnlyRootFilesystem'] = true;
    const capabilities = asObject(sc['capabilities']);
    const drop = Array.isArray(capabilities['drop']) ? (capabilities['drop'] as unknown[]) : [];
    if (!drop.some((c) => typeof c === 'string' && c.toUpperCase() === 'ALL')) {
      capabilities['drop'] = [...drop, 'ALL'];
    }
    sc['capabilities'] = capabilities;
    const secured: Json = { ...container, securityContext: sc };
    if (sc['readOnlyRootFilesystem'] === true) {
      const mounts = Array.isArray(container['volumeMounts'])
        ? [...(container['volumeMounts'] as unknown[])]
        : [];
      for (const path of [workspaceOf(container), '/tmp']) {
        if (!mounts.some((m) => normalizePath(asObject(m)['mountPath']) === path)) {
          mounts.push({ name: scratch.nameFor(path), mountPath: path });
        }
      }
      secured['volumeMounts'] = mounts;
    }
    return secured as C;
  };
  const containers = spec.containers.map(secureContainer);
  const initContainers = spec.initContainers?.map(secureContainer);
  // Ephemeral containers cannot be set on a new Pod (the API server refuses them); secured
  // anyway, so such a template is refused for that and not for the defaults it lacks.
  const ephemeralContainers = Array.isArray(spec['ephemeralContainers'])
    ? (spec['ephemeralContainers'] as unknown[]).map((c) => secureContainer(asObject(c)))
    : undefined;
  const allVolumes = [...volumes, ...scratch.added()];
  return {
    ...spec,
    runtimeClassName: spec.runtimeClassName ?? defaultRuntimeClass,
    automountServiceAccountToken: spec.automountServiceAccountToken ?? false,
    securityContext: podSecurity,
    containers,
    ...(initContainers ? { initContainers } : {}),
    ...(ephemeralContainers ? { ephemeralContainers } : {}),
    ...(allVolumes.length > 0 ? { volumes: allVolumes } : {}),
  };
}

/** The directory the agent in this container will use as its workspace. */
function workspaceOf(container: Json): string {
  const env = Array.isArray(container['env']) ? (container['env'] as unknown[]).map(asObject) : [];
  for (const variable of WORKSPACE_VARIABLES) {
    const value = env.find((e) => e['name'] === variable)?.['value'];
    if (typeof value === 'string' && value.startsWith('/')) return normalizePath(value) ?? WORKSPACE_PATH;
  }
  return WORKSPACE_PATH;
}

function normalizePath(path: unknown): string | undefined {
  if (typeof path !== 'string') return undefined;
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/**
 * The emptyDir volumes the defaults add, one per mount path, named `sandbank-<dir>` plus a
 * number where the template already has a volume of that name.
 */
class ScratchVolumes {
  private readonly taken: Set<string>;
  private readonly byPath = new Map<string, string>();
  constructor(existing: readonly unknown[]) {
    this.taken = new Set(existing.map((v) => asObject(v)['name']).filter((n) => typeof n === 'string'));
  }

  nameFor(path: string): string {
    const known = this.byPath.get(path);
    if (known) return known;
    const dir =
      path
        .replace(/[^a-z0-9]+/gi, '-')
        .replace(/^-|-$/g, '')
        .toLowerCase() || 'root';
    // A DNS-1123 label, with room for a number.
    const stem = `sandbank-${dir}`.slice(0, 50).replace(/-+$/, '');
    let name = stem;
    for (let i = 1; this.taken.has(name); i++) name = `${stem}-${i}`;
    this.taken.add(name);
    this.byPath.set(path, name);
    return name;
  }

  added(): Json[] {
    return [...this.byPath.values()].map((name) => ({ name, emptyDir: {} }));
  }
}

/** Hash of a pod template: pool members carrying another value are stale. */
export function podTemplateHash(template: PodTemplate): string {
  return nameHash(stableJson(template));
}

export function isPodReady(pod: Readonly<Pod> | undefined): boolean {
  if (!pod || pod.metadata.deletionTimestamp) return false;
  if (pod.status?.phase !== 'Running') return false;
  return pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function isPodTerminal(pod: Readonly<Pod>): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** The node the Pod was scheduled to, once it was. */
export function podNodeName(pod: Readonly<Pod>): string | undefined {
  const node = pod.spec['nodeName'];
  return typeof node === 'string' ? node : undefined;
}

/** A Sandbox's `status.selector`: the label its Pod carries (for `kubectl scale` and HPA). */
export function sandboxSelector(sandboxName: string): string {
  return `${Labels.sandboxNameHash}=${nameHash(sandboxName)}`;
}

export function podIPs(pod: Readonly<Pod> | undefined): string[] {
  if (!pod) return [];
  const ips = pod.status?.podIPs?.map((p) => p.ip) ?? [];
  if (ips.length > 0) return ips;
  return pod.status?.podIP ? [pod.status.podIP] : [];
}

/** Why a pod is not running any more, in words a user can act on. */
export function podFailureMessage(pod: Readonly<Stored<Pod>>): string {
  const parts = [`Pod ${pod.metadata.name} is ${pod.status?.phase ?? 'gone'}`];
  if (pod.status?.reason) parts.push(`reason ${pod.status.reason}`);
  if (pod.status?.message) parts.push(pod.status.message);
  for (const cs of pod.status?.containerStatuses ?? []) {
    const terminated = asObject(cs.state?.['terminated']);
    const { reason, exitCode } = terminated;
    if (reason !== undefined || exitCode !== undefined) {
      parts.push(
        `container ${cs.name}: ${typeof reason === 'string' ? reason : 'terminated'} (exit ${typeof exitCode === 'number' ? exitCode : '?'})`,
      );
    }
  }
  return parts.join('; ');
}

export interface PodFromTemplate {
  readonly template: PodTemplate;
  /** Filled in where the template names no RuntimeClass: the first the profile allows. */
  readonly defaultRuntimeClass: string;
  /** The SandboxTemplate the pod comes from; its hash label is what the NetworkPolicy selects. */
  readonly templateName: string | undefined;
  readonly owner: OwnerReference;
  /** Extra labels (pool or sandbox bookkeeping). */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The Pod body (without name) a pool member or a cold-started sandbox gets. */
export function podFromTemplate(input: PodFromTemplate): Pod {
  const meta = input.template.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      labels: {
        ...meta.labels,
        ...(input.templateName ? { [Labels.sandboxTemplateRefHash]: nameHash(input.templateName) } : {}),
        ...input.labels,
      },
      annotations: { ...meta.annotations, ...input.annotations },
      ownerReferences: [input.owner],
    },
    spec: withSecureDefaults(input.template.spec, input.defaultRuntimeClass),
  };
}

/**
 * The PersistentVolumeClaim behind volume claim template `template` for the Pod `podName`:
 * `<template>-<pod>`, as a StatefulSet names them. A cold Sandbox's Pod is named like the
 * Sandbox; a warm one keeps its pool name, and so do its claims from the pool to the Sandbox.
 */
export function volumeClaimName(template: PersistentVolumeClaimTemplate, podName: string): string {
  return `${template.metadata.name ?? ''}-${podName}`;
}

/**
 * `pod` named `podName` and mounting, for each volume claim template, the claim of that name,
 * under the template's name (the name the containers' volumeMounts use). A volume the pod
 * template already declares under that name is left as it is.
 */
export function withClaimVolumes(
  pod: Pod,
  podName: string,
  templates: readonly PersistentVolumeClaimTemplate[],
): Pod {
  const volumes = volumesOf(pod.spec);
  for (const template of templates) {
    const volume = template.metadata.name ?? '';
    if (!volumes.some((v) => asObject(v)['name'] === volume)) {
      const claimName = volumeClaimName(template, podName);
      volumes.push({ name: volume, persistentVolumeClaim: { claimName } });
    }
  }
  const metadata = { ...pod.metadata, name: podName };
  delete metadata.generateName;
  return {
    ...pod,
    metadata,
    spec: { ...pod.spec, ...(volumes.length ? { volumes } : {}) },
  };
}

/**
 * Whether `pod` has the volumes `withClaimVolumes` gives a Pod of its name for `templates`: one
 * volume per template name (its claim `<template>-<pod>`, or a volume of that name the pod
 * template declares itself), and no claim of its own (`…-<pod>`) that no template asks for.
 */
export function mountsClaimsOf(
  pod: Readonly<Stored<Pod>>,
  templates: readonly PersistentVolumeClaimTemplate[],
): boolean {
  const name = pod.metadata.name;
  const volumes = volumesOf(pod.spec).map(asObject);
  const claimOf = (v: Json): unknown => asObject(v['persistentVolumeClaim'])['claimName'];
  const ownClaims = volumes.filter((v) => {
    const claim = claimOf(v);
    return typeof claim === 'string' && claim.endsWith(`-${name}`);
  });
  const asked = (v: Json) =>
    templates.some((t) => v['name'] === t.metadata.name && claimOf(v) === volumeClaimName(t, name));
  return ownClaims.every(asked) && templates.every((t) => volumes.some((v) => v['name'] === t.metadata.name));
}

/** A PersistentVolumeClaim to create: named metadata and the template's spec. */
export interface VolumeClaimObject {
  readonly apiVersion: 'v1';
  readonly kind: 'PersistentVolumeClaim';
  readonly metadata: ObjectMeta & { readonly name: string };
  readonly spec: unknown;
}

/**
 * The claims of a pool member, controlled by the Pod: the garbage collector removes them with an
 * unclaimed member, and the Sandbox that adopts the Pod adopts them too. No blockOwnerDeletion:
 * it would need the right to update pods/finalizers, and nothing waits on it.
 */
export function memberClaims(
  pod: { readonly metadata: { readonly name: string; readonly uid: string } },
  templates: readonly PersistentVolumeClaimTemplate[],
): VolumeClaimObject[] {
  const owner: OwnerReference = {
    apiVersion: 'v1',
    kind: 'Pod',
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    controller: true,
  };
  return templates.map((template) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: volumeClaimName(template, pod.metadata.name),
      ...(template.metadata.labels ? { labels: template.metadata.labels } : {}),
      ...(template.metadata.annotations ? { annotations: template.metadata.annotations } : {}),
      ownerReferences: [owner],
    },
    spec: template.spec,
  }));
}
