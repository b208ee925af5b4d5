/**
 * Label and annotation keys. Upstream agent-sandbox keys where upstream has them (so its tools,
 * NetworkPolicies and clients keep working); Sandbank-only keys live under `sandbank.dev/`.
 */
export const Labels = {
  /** On pool-owned warm Pods: NameHash(pool name). Removed when a claim adopts the Pod. */
  pool: 'agents.x-k8s.io/pool',
  /** On Pods (and Services): NameHash(sandbox name). What routing and Service selectors use. */
  sandboxNameHash: 'agents.x-k8s.io/sandbox-name-hash',
  /** On templates' Pods: NameHash(template name). The template NetworkPolicy selects on it. */
  sandboxTemplateRefHash: 'agents.x-k8s.io/sandbox-template-ref-hash',
  /** On a claimed Pod and its Sandbox: the UID of the owning claim. */
  claimUid: 'agents.x-k8s.io/claim-uid',
  /** On pool Pods: hash of the template's pod spec, to find stale members after a template edit. */
  podTemplateHash: 'agents.x-k8s.io/sandbox-pod-template-hash',
  /** How a claim got its sandbox: `warm` (adopted from a pool) or `cold` (created for it). */
  launchType: 'sandbank.dev/launch-type',
} as const;

/**
 * Labels a cluster admin puts on a namespace to relax the sandbox profile there (see
 * docs/sandbox-profile.md). Template authors cannot set them: labelling a namespace needs
 * `update` on the namespace itself. Each takes the value "true"; any other value is ignored.
 */
export const ProfileLabels = {
  /** Allows runAsNonRoot: false and runAsUser: 0. */
  allowRoot: 'sandbox-profile.sandbank.dev/allow-root',
  /** Allows hostNetwork: true and host ports (the pod then shares the node's network). */
  allowHostNetwork: 'sandbox-profile.sandbank.dev/allow-host-network',
  /** Allows automountServiceAccountToken: true and projected service account tokens. */
  allowServiceAccountToken: 'sandbox-profile.sandbank.dev/allow-service-account-token',
  /** Followed by a RuntimeClass name: allows that class besides the cluster's list. */
  allowRuntimeClassPrefix: 'sandbox-profile.sandbank.dev/allow-runtime-class-',
  /** Followed by a capability name (SYS_PTRACE): allows adding it besides the cluster's list. */
  allowCapabilityPrefix: 'sandbox-profile.sandbank.dev/allow-capability-',
} as const;

export const Annotations = {
  /** On a Sandbox: the name of its Pod when that Pod was adopted from a warm pool. */
  podName: 'agents.x-k8s.io/pod-name',
  /** On a Sandbox: the template it was made from (for metrics and humans). */
  sandboxTemplateRef: 'agents.x-k8s.io/sandbox-template-ref',
  /** W3C trace context the Python client puts on claims; propagated to the Sandbox. */
  traceContext: 'opentelemetry.io/trace-context',
} as const;

export type LabelKey = (typeof Labels)[keyof typeof Labels];
export type AnnotationKey = (typeof Annotations)[keyof typeof Annotations];
