/**
 * The sandbox profile: what a sandbox pod may ask for. Pod Security `restricted` (baseline
 * included) plus Sandbank's own rules: an allowed RuntimeClass, no service-account token, and
 * capabilities only from an allowlist. A cluster admin relaxes some rules per namespace with
 * labels (ProfileLabels); nothing a template author writes can.
 *
 * The admission policy (manifests/base/admission/policy.yaml) checks the same rules in CEL with
 * the same messages, in the same order; manifests/test/integration/sandbox-profile.test.ts holds
 * the two to that. This check runs on the pod as the controller would create it, secure
 * defaults applied, so fields a template leaves unset are judged by their default. Pure.
 */
import { ProfileLabels, type PodSpec } from '@sandbank/api';

/** The cluster's settings (controller variables, read from the policy's parameter ConfigMap). */
export interface ProfileSettings {
  /** RuntimeClasses sandbox pods may use; the first is filled in where a template names none. */
  readonly runtimeClasses: readonly string[];
  /** Capabilities a container may add, as normalizeCapability spells them. */
  readonly capabilities: readonly string[];
}

export const DEFAULT_PROFILE_SETTINGS: ProfileSettings = { runtimeClasses: ['gvisor'], capabilities: [] };

/** What a namespace without relaxation labels gets under the default settings. */
export const DEFAULT_SANDBOX_PROFILE: SandboxProfile = {
  ...DEFAULT_PROFILE_SETTINGS,
  allowRoot: false,
  allowServiceAccountToken: false,
  allowHostNetwork: false,
};

/** The profile of one namespace: the cluster's settings plus what its labels relax. */
export interface SandboxProfile extends ProfileSettings {
  /** runAsNonRoot: false and runAsUser: 0 allowed. */
  readonly allowRoot: boolean;
  /** automountServiceAccountToken: true and projected service-account tokens allowed. */
  readonly allowServiceAccountToken: boolean;
  /** hostNetwork: true and host ports allowed. */
  readonly allowHostNetwork: boolean;
}

export interface ProfileViolation {
  /** The field, as a path from the object's root: `spec.podTemplate.spec.hostNetwork`. */
  readonly field: string;
  readonly message: string;
}

/** Where the pod spec and the pod metadata sit in the object a message is about. */
export interface ProfilePaths {
  readonly spec: string;
  readonly metadata: string;
}

/** A SandboxTemplate or a Sandbox: both carry the pod under spec.podTemplate. */
export const TEMPLATE_PATHS: ProfilePaths = {
  spec: 'spec.podTemplate.spec',
  metadata: 'spec.podTemplate.metadata',
};
export const POD_PATHS: ProfilePaths = { spec: 'spec', metadata: 'metadata' };

/** Pod Security `restricted`: the only volume types allowed. */
export const ALLOWED_VOLUME_TYPES: readonly string[] = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
];

/** Pod Security `baseline`: the sysctls that are namespaced and isolated from other pods. */
export const SAFE_SYSCTLS: readonly string[] = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
];

/** Pod Security `baseline`: SELinux types a container may run as. */
export const ALLOWED_SELINUX_TYPES: readonly string[] = [
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
];

const PROFILE_TYPES: readonly string[] = ['RuntimeDefault', 'Localhost'];
const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

/** The RuntimeClass filled in where a pod template names none: the cluster's first. */
export function defaultRuntimeClass(profile: ProfileSettings): string {
  return profile.runtimeClasses[0] ?? DEFAULT_RUNTIME_CLASS;
}

const DEFAULT_RUNTIME_CLASS = 'gvisor';

/** Capabilities as the runtime reads them: upper case, without `CAP_`. */
export function normalizeCapability(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith('CAP_') ? upper.slice(4) : upper;
}

/**
 * The profile of a namespace with these labels. Additions from labels come after the
 * cluster's list (its first class stays the default); `ALL` is never an allowed capability.
 */
export function sandboxProfile(
  settings: ProfileSettings,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
): SandboxProfile {
  const labels = namespaceLabels ?? {};
  const allowedByLabel = (prefix: string): string[] =>
    Object.keys(labels)
      .filter((key) => key.startsWith(prefix) && key.length > prefix.length && labels[key] === 'true')
      .sort()
      .map((key) => key.slice(prefix.length));
  const unique = (values: readonly string[]): string[] => [...new Set(values)];
  return {
    runtimeClasses: unique([
      ...settings.runtimeClasses,
      ...allowedByLabel(ProfileLabels.allowRuntimeClassPrefix),
    ]),
    capabilities: unique(
      [...settings.capabilities, ...allowedByLabel(ProfileLabels.allowCapabilityPrefix)].map(
        normalizeCapability,
      ),
    ).filter((c) => c !== 'ALL'),
    allowRoot: labels[ProfileLabels.allowRoot] === 'true',
    allowServiceAccountToken: labels[ProfileLabels.allowServiceAccountToken] === 'true',
    allowHostNetwork: labels[ProfileLabels.allowHostNetwork] === 'true',
  };
}

/** `field: message; field: message` — what conditions and events carry. */
export function describeViolations(violations: readonly ProfileViolation[]): string {
  return violations.map((v) => `${v.field}: ${v.message}`).join('; ');
}

type Json = Readonly<Record<string, unknown>>;

function obj(value: unknown): Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function allowedList(values: readonly string[]): string {
  return values.length === 0 ? 'none' : values.join(', ');
}

/** One container with the path of its entry: `spec.containers[0]`, `spec.initContainers[1]`. */
interface PlacedContainer {
  readonly path: string;
  readonly container: Json;
  readonly sc: Json;
}

function placedContainers(spec: Json, at: string): PlacedContainer[] {
  return (['containers', 'initContainers', 'ephemeralContainers'] as const).flatMap((group) =>
    list(spec[group]).map((c, i) => {
      const container = obj(c);
      return { path: `${at}.${group}[${i}]`, container, sc: obj(container['securityContext']) };
    }),
  );
}

type ContextRule = (
  sc: Json,
  profile: SandboxProfile,
) => readonly [field: string, message: string] | undefined;

/**
 * Rules for the settings a pod's and a container's securityContext both hold; each is applied
 * to the pod's context, then to every container's.
 */
const CONTEXT_RULES: readonly ContextRule[] = [
  (sc, p) =>
    !p.allowRoot && sc['runAsNonRoot'] === false
      ? ['runAsNonRoot', 'running as root is not allowed']
      : undefined,
  (sc, p) =>
    !p.allowRoot && sc['runAsUser'] === 0 ? ['runAsUser', 'user 0 (root) is not allowed'] : undefined,
  (sc) => {
    const type = text(obj(sc['seccompProfile'])['type']);
    return type !== undefined && !PROFILE_TYPES.includes(type)
      ? ['seccompProfile.type', `seccomp profile ${type} is not allowed (RuntimeDefault or Localhost)`]
      : undefined;
  },
  (sc) => {
    const type = text(obj(sc['seLinuxOptions'])['type']) ?? '';
    return type !== '' && !ALLOWED_SELINUX_TYPES.includes(type)
      ? ['seLinuxOptions.type', `SELinux type ${type} is not allowed (${ALLOWED_SELINUX_TYPES.join(', ')})`]
      : undefined;
  },
  (sc) =>
    (text(obj(sc['seLinuxOptions'])['user']) ?? '') !== ''
      ? ['seLinuxOptions.user', 'must not be set']
      : undefined,
  (sc) =>
    (text(obj(sc['seLinuxOptions'])['role']) ?? '') !== ''
      ? ['seLinuxOptions.role', 'must not be set']
      : undefined,
  (sc) => {
    const type = text(obj(sc['appArmorProfile'])['type']);
    return type !== undefined && !PROFILE_TYPES.includes(type)
      ? ['appArmorProfile.type', `AppArmor profile ${type} is not allowed (RuntimeDefault or Localhost)`]
      : undefined;
  },
  (sc) =>
    obj(sc['windowsOptions'])['hostProcess'] === true
      ? ['windowsOptions.hostProcess', 'host processes are not allowed']
      : undefined,
];

const HANDLER_FIELDS: readonly (readonly [string, (c: Json) => unknown])[] = [
  ['livenessProbe', (c) => c['livenessProbe']],
  ['readinessProbe', (c) => c['readinessProbe']],
  ['startupProbe', (c) => c['startupProbe']],
  ['lifecycle.postStart', (c) => obj(c['lifecycle'])['postStart']],
  ['lifecycle.preStop', (c) => obj(c['lifecycle'])['preStop']],
];

/** The first probe or lifecycle hook field naming a host (the kubelet would connect there). */
function firstHandlerHost(container: Json): string | undefined {
  for (const [name, get] of HANDLER_FIELDS) {
    const handler = obj(get(container));
    if ((text(obj(handler['httpGet'])['host']) ?? '') !== '') return `${name}.httpGet.host`;
    if ((text(obj(handler['tcpSocket'])['host']) ?? '') !== '') return `${name}.tcpSocket.host`;
  }
  return undefined;
}

/** A pod, or a pod template: its spec and the annotations (AppArmor's) the rules read. */
export interface ProfileSubject {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> | undefined } | undefined;
  readonly spec: PodSpec;
}

/**
 * Every rule the pod breaks under `profile`, in the admission policy's order. `pod` is the pod
 * as it will be created (secure defaults applied): an unset field that the defaults would have
 * set (runtimeClassName, runAsNonRoot, seccomp, allowPrivilegeEscalation, capabilities.drop,
 * automountServiceAccountToken) is a violation here.
 */
export function profileViolations(
  pod: ProfileSubject,
  profile: SandboxProfile,
  paths: ProfilePaths = TEMPLATE_PATHS,
): ProfileViolation[] {
  const out: ProfileViolation[] = [];
  const add = (field: string, message: string): void => {
    out.push({ field, message });
  };
  const spec: Json = pod.spec;
  const at = paths.spec;
  const containers = placedContainers(spec, at);

  const runtimeClass = text(spec['runtimeClassName']);
  if (runtimeClass === undefined)
    add(
      `${at}.runtimeClassName`,
      `must name an allowed runtime class (${allowedList(profile.runtimeClasses)})`,
    );
  else if (!profile.runtimeClasses.includes(runtimeClass))
    add(
      `${at}.runtimeClassName`,
      `runtime class ${runtimeClass} is not allowed (allowed: ${allowedList(profile.runtimeClasses)})`,
    );
  if (!profile.allowHostNetwork && spec['hostNetwork'] === true)
    add(`${at}.hostNetwork`, 'host networking is not allowed');
  if (spec['hostPID'] === true) add(`${at}.hostPID`, "the host's process namespace is not allowed");
  if (spec['hostIPC'] === true) add(`${at}.hostIPC`, "the host's IPC namespace is not allowed");
  if (!profile.allowServiceAccountToken && spec['automountServiceAccountToken'] === true)
    add(`${at}.automountServiceAccountToken`, 'service account tokens are not allowed');
  if (!profile.allowServiceAccountToken && spec['automountServiceAccountToken'] === undefined)
    add(`${at}.automountServiceAccountToken`, 'must be false');

  const podSc = obj(spec['securityContext']);
  const podAt = `${at}.securityContext`;
  const contexts = [
    { at: podAt, sc: podSc },
    ...containers.map((c) => ({ at: `${c.path}.securityContext`, sc: c.sc })),
  ];
  for (const rule of CONTEXT_RULES) {
    for (const context of contexts) {
      const broken = rule(context.sc, profile);
      if (broken) add(`${context.at}.${broken[0]}`, broken[1]);
    }
  }
  if (
    !profile.allowRoot &&
    podSc['runAsNonRoot'] === undefined &&
    containers.some((c) => c.sc['runAsNonRoot'] === undefined)
  )
    add(`${podAt}.runAsNonRoot`, 'must be true');
  if (podSc['seccompProfile'] === undefined && containers.some((c) => c.sc['seccompProfile'] === undefined))
    add(`${podAt}.seccompProfile`, 'must be RuntimeDefault or Localhost');
  list(podSc['sysctls']).forEach((s, i) => {
    const name = text(obj(s)['name']) ?? '';
    if (!SAFE_SYSCTLS.includes(name))
      add(`${podAt}.sysctls[${i}].name`, `sysctl ${name} is not allowed (only Pod Security's safe sysctls)`);
  });

  const volumes = list(spec['volumes']).map(obj);
  volumes.forEach((volume, i) => {
    const type = Object.keys(volume).find((key) => key !== 'name');
    if (type !== undefined && !ALLOWED_VOLUME_TYPES.includes(type))
      add(
        `${at}.volumes[${i}].${type}`,
        `${type} volumes are not allowed (allowed: ${ALLOWED_VOLUME_TYPES.join(', ')})`,
      );
  });
  volumes.forEach((volume, i) => {
    const sources = list(obj(volume['projected'])['sources']);
    const token = sources.findIndex((s) => obj(s)['serviceAccountToken'] !== undefined);
    if (!profile.allowServiceAccountToken && token >= 0)
      add(
        `${at}.volumes[${i}].projected.sources[${token}].serviceAccountToken`,
        'service account tokens are not allowed',
      );
  });

  const annotations = pod.metadata?.annotations ?? {};
  for (const key of Object.keys(annotations).sort()) {
    const value = annotations[key] ?? '';
    if (
      key.startsWith(APPARMOR_ANNOTATION_PREFIX) &&
      value !== 'runtime/default' &&
      !value.startsWith('localhost/')
    )
      add(
        `${paths.metadata}.annotations[${key}]`,
        `AppArmor profile ${value} is not allowed (runtime/default or localhost/*)`,
      );
  }

  // Container rules, rule by rule (each over every container), as the policy lists them.
  for (const c of containers)
    if (c.sc['privileged'] === true)
      add(`${c.path}.securityContext.privileged`, 'privileged containers are not allowed');
  for (const c of containers) {
    const escalation = c.sc['allowPrivilegeEscalation'];
    if (escalation === true)
      add(`${c.path}.securityContext.allowPrivilegeEscalation`, 'privilege escalation is not allowed');
    else if (escalation === undefined)
      add(`${c.path}.securityContext.allowPrivilegeEscalation`, 'must be false');
  }
  for (const c of containers) {
    const capabilities = obj(c.sc['capabilities']);
    const refused = list(capabilities['add'])
      .map((cap) => normalizeCapability(text(cap) ?? ''))
      .filter((cap) => cap === 'ALL' || !profile.capabilities.includes(cap));
    if (refused.length > 0)
      add(
        `${c.path}.securityContext.capabilities.add`,
        `${refused.length === 1 ? 'capability' : 'capabilities'} ${refused.join(', ')} ${refused.length === 1 ? 'is' : 'are'} not allowed (allowed: ${allowedList(profile.capabilities)})`,
      );
  }
  for (const c of containers) {
    const drop = list(obj(c.sc['capabilities'])['drop']);
    if (!drop.some((cap) => normalizeCapability(text(cap) ?? '') === 'ALL'))
      add(`${c.path}.securityContext.capabilities.drop`, 'must include ALL');
  }
  for (const c of containers) {
    const procMount = text(c.sc['procMount']);
    if (procMount !== undefined && procMount !== 'Default')
      add(`${c.path}.securityContext.procMount`, `/proc mount type ${procMount} is not allowed (Default)`);
  }
  for (const c of containers) {
    const port = list(c.container['ports']).findIndex((p) => {
      const hostPort = obj(p)['hostPort'];
      return typeof hostPort === 'number' && hostPort !== 0;
    });
    if (!profile.allowHostNetwork && port >= 0)
      add(`${c.path}.ports[${port}].hostPort`, 'host ports are not allowed');
  }
  for (const c of containers) {
    const field = firstHandlerHost(c.container);
    if (field !== undefined) add(`${c.path}.${field}`, 'probes and lifecycle hooks must not name a host');
  }
  return out;
}
