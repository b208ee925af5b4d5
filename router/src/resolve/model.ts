/**
 * What the router keeps of each watched object, and the pure rules that turn a sandbox name into
 * a pod endpoint. No I/O here: the watches feed `SandboxIndex`, tests feed it by hand.
 *
 * Objects are parsed with narrow, loose zod schemas: the router reads a handful of fields, and
 * an object it cannot read is skipped (and logged by the watch), never trusted.
 *
 * Names, labels and annotations only say where to look. What proves that a Pod serves a sandbox
 * is the chain of controller owner references by UID, the links the controller writes and checks
 * itself: whoever may create Sandboxes in a namespace chooses a Sandbox's name and annotations,
 * and a 32-bit name hash collides after seconds of searching.
 */
import {
  Annotations,
  Labels,
  ObjectMeta,
  SANDBOX_CLAIM_KIND,
  SANDBOX_KIND,
  controllerOf,
} from '@sandbank/api';
import { AGENT_CREDENTIAL_ANNOTATION } from '@sandbank/kube';
import { z } from 'zod';
import { canonicalIp } from '../ip.js';

/**
 * Pod label naming how the pod's runtime is reached: `grpc` (a Sandbank agent) or `http` (a
 * runtime that serves the legacy REST API itself, such as upstream's python-runtime image).
 * Absent: the router probes the agent's gRPC port once and caches the answer per pod.
 */
export const AGENT_PROTOCOL_LABEL = 'sandbank.dev/agent-protocol';

export type AgentProtocol = 'grpc' | 'http' | 'unknown';

/**
 * Pod annotation (set through the template's `podTemplate.metadata.annotations`, which the
 * controller copies onto every Pod it makes): `"true"` lets the port route reach any port of the
 * sandbox, not only the container ports its Pod declares. The agent's ports stay refused.
 */
export const EXPOSE_ANY_PORT_ANNOTATION = 'sandbank.dev/expose-any-port';

/**
 * The TCP container ports a Pod declares, read apart from the Pod itself: a spec the router cannot
 * read declares nothing (the port route then refuses every port), it never makes the Pod unroutable.
 */
const DeclaredPorts = z.looseObject({
  containers: z.array(
    z.looseObject({
      ports: z
        .array(
          z.looseObject({
            containerPort: z.number().int().min(1).max(65535),
            protocol: z.string().optional(),
          }),
        )
        .optional(),
    }),
  ),
});

function declaredPorts(spec: unknown): readonly number[] {
  const parsed = DeclaredPorts.safeParse(spec);
  if (!parsed.success) return [];
  const ports = parsed.data.containers.flatMap((c) =>
    (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort),
  );
  return [...new Set(ports)].sort((a, b) => a - b);
}

/**
 * The container terminations a Pod's status records, read apart from the Pod itself like its
 * ports: a status the router cannot read records none, it never makes the Pod unroutable.
 */
const Termination = z.looseObject({ reason: z.string().optional(), finishedAt: z.string().optional() });
const ContainerTerminations = z.looseObject({
  containerStatuses: z.array(
    z.looseObject({
      state: z.looseObject({ terminated: Termination.optional() }).optional(),
      lastState: z.looseObject({ terminated: Termination.optional() }).optional(),
    }),
  ),
});

/**
 * When the Pod's memory limit last killed one of its containers (ms since the epoch, to the
 * second as the kubelet records `finishedAt`), by the current or the last termination of each;
 * undefined: never, as far as its status says. Under gVisor the whole sandbox goes at once, so
 * any container's record is the sandbox's.
 */
export function lastOomKillMs(status: unknown): number | undefined {
  const parsed = ContainerTerminations.safeParse(status);
  if (!parsed.success) return undefined;
  let last: number | undefined;
  for (const c of parsed.data.containerStatuses) {
    for (const t of [c.state?.terminated, c.lastState?.terminated]) {
      const at = t?.reason === 'OOMKilled' ? Date.parse(t.finishedAt ?? '') : NaN;
      if (Number.isFinite(at) && (last === undefined || at > last)) last = at;
    }
  }
  return last;
}

// UIDs are what links are checked against: an object without one is not read at all.
const Meta = ObjectMeta.extend({
  name: z.string().min(1),
  namespace: z.string().min(1),
  uid: z.string().min(1),
});

/**
 * A Pod as the router caches it, with its IP in canonical form added when the informer parses it
 * (once per version of the Pod): upstream's SDK sends the pod IP back on nearly every call
 * (`X-Sandbox-Pod-IP`), and that hint is compared with this form, never with a fresh parse of the
 * router's own copy per request.
 */
export const PodView = z
  .looseObject({
    metadata: Meta,
    // Read by declaredPorts on its own: a spec it cannot read must not make the Pod unreadable.
    spec: z.unknown().optional(),
    status: z
      .looseObject({
        podIP: z.string().optional(),
        phase: z.string().optional(),
        conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
      })
      .optional(),
  })
  .transform((pod) => ({ ...pod, canonicalPodIP: canonicalIp(pod.status?.podIP ?? '') }));
export const SandboxView = z.looseObject({ metadata: Meta });
export const ClaimView = z.looseObject({ metadata: Meta });

/** Who controls an object, as its controller owner reference says. */
export interface OwnerLink {
  readonly kind: string;
  readonly uid: string;
}

export interface PodEntry {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly ip: string | undefined;
  /** `ip` in canonical form (src/ip.ts); undefined when it is no single IP literal. */
  readonly canonicalIp: string | undefined;
  readonly ready: boolean;
  readonly deleting: boolean;
  readonly pooled: boolean;
  /** Its Sandbox (which created or adopted it), or the claim that bound it from a warm pool. */
  readonly controller: OwnerLink | undefined;
  readonly protocol: AgentProtocol;
  /**
   * The pod's `sandbank.dev/agent-credential` annotation, unchecked (the gateway parses it when it
   * derives the pod's token); undefined: a pod without one, whose agent gets no credential.
   */
  readonly agentCredential: string | undefined;
  /** Its containers' declared TCP ports (what the port route may reach by default). */
  readonly declaredPorts: readonly number[];
  /** The `sandbank.dev/expose-any-port: "true"` annotation: the port route may reach any port. */
  readonly anyPort: boolean;
  /** When its memory limit last killed a container (lastOomKillMs); undefined: never. */
  readonly lastOomKillMs: number | undefined;
}

export interface SandboxEntry {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Where to look for its Pod: a lookup, never proof that the Pod found there is this Sandbox's. */
  readonly podName: string;
  /** UID of the controlling SandboxClaim, when a claim owns this Sandbox. */
  readonly claimUid: string | undefined;
}

export interface ClaimEntry {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

function controllerLink(meta: z.infer<typeof Meta>): OwnerLink | undefined {
  const owner = controllerOf(meta);
  return owner === undefined || owner.uid === '' ? undefined : { kind: owner.kind, uid: owner.uid };
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
    canonicalIp: pod.canonicalPodIP,
    ready,
    deleting: pod.metadata.deletionTimestamp !== undefined,
    pooled: labels[Labels.pool] !== undefined,
    controller: controllerLink(pod.metadata),
    protocol: protocolLabel === 'grpc' || protocolLabel === 'http' ? protocolLabel : 'unknown',
    agentCredential: pod.metadata.annotations?.[AGENT_CREDENTIAL_ANNOTATION],
    declaredPorts: declaredPorts(pod.spec),
    anyPort: pod.metadata.annotations?.[EXPOSE_ANY_PORT_ANNOTATION] === 'true',
    lastOomKillMs: lastOomKillMs(pod.status),
  };
}

export function sandboxEntry(sandbox: z.infer<typeof SandboxView>): SandboxEntry {
  const owner = controllerLink(sandbox.metadata);
  return {
    namespace: sandbox.metadata.namespace,
    name: sandbox.metadata.name,
    uid: sandbox.metadata.uid,
    // Read as the controller reads it: an empty annotation names no Pod, the Sandbox's own does.
    podName: sandbox.metadata.annotations?.[Annotations.podName] || sandbox.metadata.name,
    claimUid: owner?.kind === SANDBOX_CLAIM_KIND ? owner.uid : undefined,
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
  /** What the router dials. */
  readonly ip: string;
  /**
   * `ip` in canonical form, computed when the Pod was cached: what an `X-Sandbox-Pod-IP` hint is
   * compared with (undefined: no hint matches). Never dialled.
   */
  readonly canonicalIp: string | undefined;
  readonly protocol: AgentProtocol;
  /** The pod's credential annotation (see PodEntry); what the gateway derives its token from. */
  readonly agentCredential: string | undefined;
  /**
   * The claim that controls the Sandbox (by UID), when one does: whose `sandboxclaims/exec` a
   * `kubernetes`-mode caller needs, whatever the Sandbox is named.
   */
  readonly claim: string | undefined;
  /**
   * That claim's UID: what a signed preview link is bound to, so a link outlives neither the claim
   * nor is it honoured by another claim made later under the same name.
   */
  readonly claimUid: string | undefined;
  /** The pod's declared TCP ports and its expose-any-port annotation (PodEntry). */
  readonly declaredPorts: readonly number[];
  readonly anyPort: boolean;
  /**
   * The pod's last OOM kill when it was resolved (PodEntry): a kill recorded later than this
   * happened after, and explains a call to it that broke (agent/broken-stream.ts).
   */
  readonly lastOomKillMs: number | undefined;
}

/** A Pod by namespace, name and the UID it must still have. */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/**
 * Whether `pod`, still the one `ref` names, records an OOM kill later than `afterMs`: true; false
 * once it never will for this call (the Pod is gone, replaced, or being deleted: the deletion
 * explains the break); undefined while the kubelet may still report one.
 */
export function oomKilledAfter(
  pod: PodEntry | undefined,
  ref: PodRef,
  afterMs: number | undefined,
): boolean | undefined {
  if (pod === undefined || pod.uid !== ref.uid) return false;
  if (pod.lastOomKillMs !== undefined && (afterMs === undefined || pod.lastOomKillMs > afterMs)) return true;
  return pod.deleting ? false : undefined;
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
  /** The claim with this UID in `namespace` (owner references name their owner by UID). */
  claimByUid(namespace: string, uid: string): ClaimEntry | undefined;
  sandbox(namespace: string, name: string): SandboxEntry | undefined;
  pod(namespace: string, name: string): PodEntry | undefined;
}

/**
 * Whether `pod` is the one `sandbox` runs on, by controller UIDs only (the controller's own
 * ownership rule): the Sandbox controls it (it created the Pod, or adopted a warm one), or, between
 * a warm bind and that adoption, the claim that controls the Sandbox does.
 */
function isPodOf(sandbox: SandboxEntry, pod: PodEntry): boolean {
  const owner = pod.controller;
  if (owner === undefined) return false;
  if (owner.kind === SANDBOX_KIND && owner.uid === sandbox.uid) return true;
  return (
    sandbox.claimUid !== undefined && owner.kind === SANDBOX_CLAIM_KIND && owner.uid === sandbox.claimUid
  );
}

/**
 * Sandbox name → the endpoint of its Ready pod. The name is the Sandbox's, as upstream's clients
 * send it (`X-Sandbox-ID`, `status.sandbox.name`); Sandbank names a Sandbox like its claim, but a
 * Sandbox from upstream (a warm one is named like its pool's pod) need not be.
 *
 * Guarantees:
 * - a Sandbox controlled by a claim is routed only while that claim (by UID, whatever its name)
 *   exists; the claim is returned with the endpoint, for `kubernetes` mode to authorize against;
 * - when a SandboxClaim has the Sandbox's name, the Sandbox must be the one that claim controls:
 *   nobody who may create Sandboxes can put one in the way of a claim's traffic by taking its name;
 * - a Sandbox that no claim controls (created directly, as upstream allows) is routed too, but
 *   only to a Pod it controls itself;
 * - the Pod returned is controlled by the Sandbox's UID or by its claim's (`isPodOf`), so
 *   whatever a Sandbox's pod-name annotation, its name hash or a Pod's labels say, another
 *   sandbox's Pod is never returned, nor a Pod that still carries the warm-pool label.
 */
export function resolveSandbox(cache: CacheReader, ref: SandboxRef): Resolution {
  const sandbox = cache.sandbox(ref.namespace, ref.name);
  const namesake = cache.claim(ref.namespace, ref.name);
  if (!sandbox) {
    return namesake
      ? { kind: 'not_ready', message: `sandbox ${ref.namespace}/${ref.name} is being created; retry shortly` }
      : { kind: 'not_found', message: `no sandbox named ${ref.name} in namespace ${ref.namespace}` };
  }
  if (namesake !== undefined && sandbox.claimUid !== namesake.uid) {
    return {
      kind: 'not_found',
      message: `sandbox ${ref.namespace}/${ref.name} is not the one claim ${ref.name} owns`,
    };
  }
  const owner =
    sandbox.claimUid === undefined ? undefined : cache.claimByUid(ref.namespace, sandbox.claimUid);
  if (sandbox.claimUid !== undefined && owner === undefined) {
    return { kind: 'not_found', message: `sandbox ${ref.namespace}/${ref.name} has no live claim` };
  }
  const pod = cache.pod(ref.namespace, sandbox.podName);
  if (!pod || pod.pooled || !isPodOf(sandbox, pod)) {
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
      canonicalIp: pod.canonicalIp,
      protocol: pod.protocol,
      agentCredential: pod.agentCredential,
      claim: owner?.name,
      claimUid: owner?.uid,
      declaredPorts: pod.declaredPorts,
      anyPort: pod.anyPort,
      lastOomKillMs: pod.lastOomKillMs,
    },
  };
}
