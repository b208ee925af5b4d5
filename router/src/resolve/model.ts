/**
 * What the router keeps of each watched object, and the pure rules that turn a sandbox name into
 * a pod endpoint. No I/O here: the watches feed `SandboxIndex`, tests feed it by hand.
 *
 * Objects are parsed with narrow, loose zod schemas: the router reads a handful of fields, and
 * an object it cannot read is skipped (and logged by the watch), never trusted.
 */
import { Annotations, Labels, ObjectMeta, controllerOf, nameHash } from '@sandbank/api';
import { z } from 'zod';

/**
 * Pod label naming how the pod's runtime is reached: `grpc` (a Sandbank agent) or `http` (a
 * runtime that serves the legacy REST API itself, such as upstream's python-runtime image).
 * Absent: the router probes the agent's gRPC port once and caches the answer per pod.
 */
export const AGENT_PROTOCOL_LABEL = 'sandbank.dev/agent-protocol';

export type AgentProtocol = 'grpc' | 'http' | 'unknown';

const Meta = ObjectMeta.extend({ name: z.string().min(1), namespace: z.string().min(1), uid: z.string() });

export const PodView = z.looseObject({
  metadata: Meta,
  status: z
    .looseObject({
      podIP: z.string().optional(),
      phase: z.string().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
    })
    .optional(),
});
export const SandboxView = z.looseObject({ metadata: Meta });
export const ClaimView = z.looseObject({ metadata: Meta });

export interface PodEntry {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly ip: string | undefined;
  readonly ready: boolean;
  readonly deleting: boolean;
  readonly pooled: boolean;
  readonly claimUid: string | undefined;
  readonly sandboxNameHash: string | undefined;
  readonly protocol: AgentProtocol;
}

export interface SandboxEntry {
  readonly namespace: string;
  readonly name: string;
  readonly podName: string;
  /** UID of the controlling SandboxClaim, when a claim owns this Sandbox. */
  readonly claimUid: string | undefined;
}

export interface ClaimEntry {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export function podEntry(pod: z.infer<typeof PodView>): PodEntry {
  const labels = pod.metadata.labels ?? {};
  const protocolLabel = labels[AGENT_PROTOCOL_LABEL];
  const ready =
    pod.status?.phase === 'Running' &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  return {
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    ip: pod.status?.podIP === '' ? undefined : pod.status?.podIP,
    ready,
    deleting: pod.metadata.deletionTimestamp !== undefined,
    pooled: labels[Labels.pool] !== undefined,
    claimUid: labels[Labels.claimUid],
    sandboxNameHash: labels[Labels.sandboxNameHash],
    protocol: protocolLabel === 'grpc' || protocolLabel === 'http' ? protocolLabel : 'unknown',
  };
}

export function sandboxEntry(sandbox: z.infer<typeof SandboxView>): SandboxEntry {
  const owner = controllerOf(sandbox.metadata);
  return {
    namespace: sandbox.metadata.namespace,
    name: sandbox.metadata.name,
    podName: sandbox.metadata.annotations?.[Annotations.podName] ?? sandbox.metadata.name,
    claimUid: owner?.kind === 'SandboxClaim' ? owner.uid : undefined,
  };
}

export function claimEntry(claim: z.infer<typeof ClaimView>): ClaimEntry {
  return { namespace: claim.metadata.namespace, name: claim.metadata.name, uid: claim.metadata.uid };
}

export interface Endpoint {
  readonly namespace: string;
  readonly sandbox: string;
  readonly podName: string;
  readonly podUid: string;
  readonly ip: string;
  readonly protocol: AgentProtocol;
}

export type Resolution =
  | { readonly kind: 'ready'; readonly endpoint: Endpoint }
  | { readonly kind: 'not_found'; readonly message: string }
  | { readonly kind: 'not_ready'; readonly message: string };

export interface SandboxRef {
  readonly namespace: string;
  readonly name: string;
}

/** Read access to the three caches, as `resolveSandbox` needs it. */
export interface CacheReader {
  claim(namespace: string, name: string): ClaimEntry | undefined;
  sandbox(namespace: string, name: string): SandboxEntry | undefined;
  pod(namespace: string, name: string): PodEntry | undefined;
}

/**
 * Sandbox name → the endpoint of its Ready pod.
 *
 * Guarantees: a pod that still carries the warm-pool label is never returned, nor one whose
 * `sandbox-name-hash` label names another sandbox, nor (for a claimed Sandbox) one whose
 * `claim-uid` label is not the claim's UID. Those three checks make an unclaimed warm pod
 * unreachable even when a Sandbox annotation points at it.
 */
export function resolveSandbox(cache: CacheReader, ref: SandboxRef): Resolution {
  const sandbox = cache.sandbox(ref.namespace, ref.name);
  if (!sandbox) {
    const claim = cache.claim(ref.namespace, ref.name);
    return claim
      ? { kind: 'not_ready', message: `sandbox ${ref.namespace}/${ref.name} is being created; retry shortly` }
      : { kind: 'not_found', message: `no sandbox named ${ref.name} in namespace ${ref.namespace}` };
  }
  if (sandbox.claimUid !== undefined) {
    const claim = cache.claim(ref.namespace, ref.name);
    if (!claim || claim.uid !== sandbox.claimUid) {
      return { kind: 'not_found', message: `sandbox ${ref.namespace}/${ref.name} has no live claim` };
    }
  }
  const pod = cache.pod(ref.namespace, sandbox.podName);
  if (
    !pod ||
    pod.pooled ||
    pod.sandboxNameHash !== nameHash(sandbox.name) ||
    (sandbox.claimUid !== undefined && pod.claimUid !== sandbox.claimUid)
  ) {
    return { kind: 'not_ready', message: `sandbox ${ref.namespace}/${ref.name} has no bound pod yet` };
  }
  if (pod.deleting) {
    return { kind: 'not_found', message: `the pod of sandbox ${ref.namespace}/${ref.name} is terminating` };
  }
  if (!pod.ready || pod.ip === undefined) {
    return { kind: 'not_ready', message: `the pod of sandbox ${ref.namespace}/${ref.name} is not Ready yet` };
  }
  return {
    kind: 'ready',
    endpoint: {
      namespace: ref.namespace,
      sandbox: ref.name,
      podName: pod.name,
      podUid: pod.uid,
      ip: pod.ip,
      protocol: pod.protocol,
    },
  };
}
