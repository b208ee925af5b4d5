/**
 * Pods as Sandbank makes and reads them: secure defaults, the labels that tie a Pod to its pool,
 * template and sandbox, and readiness. Pure: no I/O, no clock.
 */
import {
  Labels,
  nameHash,
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

/**
 * DESIGN §4 secure defaults, each applied only where the template left the field unset, so a
 * template that needs root or a service-account token can still say so explicitly:
 * no service-account token, non-root, seccomp RuntimeDefault, and per container no privilege
 * escalation and all capabilities dropped.
 */
export function withSecureDefaults(spec: PodSpec): PodSpec {
  const podSecurity = asObject(spec['securityContext']);
  if (podSecurity['runAsNonRoot'] === undefined) podSecurity['runAsNonRoot'] = true;
  if (podSecurity['seccompProfile'] === undefined) podSecurity['seccompProfile'] = { type: 'RuntimeDefault' };
  const secureContainer = <C extends Json>(container: C): C => {
    const sc = asObject(container['securityContext']);
    if (sc['allowPrivilegeEscalation'] === undefined) sc['allowPrivilegeEscalation'] = false;
    if (sc['capabilities'] === undefined) sc['capabilities'] = { drop: ['ALL'] };
    return { ...container, securityContext: sc };
  };
  return {
    ...spec,
    automountServiceAccountToken: spec.automountServiceAccountToken ?? false,
    securityContext: podSecurity,
    containers: spec.containers.map(secureContainer),
    ...(spec.initContainers ? { initContainers: spec.initContainers.map(secureContainer) } : {}),
  };
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
    spec: withSecureDefaults(input.template.spec),
  };
}
