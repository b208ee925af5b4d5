/**
 * SandboxTemplate: the one NetworkPolicy that fences every Pod of the template (Managed), a
 * TemplateRejected Warning when the sandbox profile forbids its pods (pools, claims and
 * Sandboxes then make none), and warnings about templates that will not behave as users
 * expect. Pure.
 */
import {
  EXTENSIONS_API_VERSION,
  Labels,
  SANDBOX_TEMPLATE_KIND,
  controllerRef,
  nameHash,
  type OwnerReference,
  type SandboxTemplate,
  type Stored,
} from '@sandbank/api';
import { warningEvent, type EventAction } from '../shared/pure-events.js';
import { stableJson } from '../shared/pure-json.js';
import { withSecureDefaults } from '../shared/pure-pods.js';
import {
  defaultRuntimeClass,
  describeViolations,
  profileViolations,
  type SandboxProfile,
} from '../shared/pure-profile.js';

export interface RouterPeer {
  /** Labels of the router's Pods. */
  readonly podLabels: Readonly<Record<string, string>>;
  /**
   * Namespaces routers run in (the controller's ROUTER_NAMESPACES); `.` is the template's own
   * namespace (a router per namespace).
   */
  readonly namespaces: readonly string[];
}

/**
 * In `RouterPeer.namespaces` (and the controller's ROUTER_NAMESPACES): the namespace of the
 * template, and so of its sandboxes (a router per namespace).
 */
export const OWN_NAMESPACE = '.';

export interface TemplateObserved {
  readonly template: Readonly<Stored<SandboxTemplate>>;
  /** The NetworkPolicy named for this template, if any. */
  readonly policy:
    | { readonly name: string; readonly specHash: string | undefined; readonly controlledByTemplate: boolean }
    | undefined;
  readonly router: RouterPeer;
  /** The sandbox profile of the template's namespace. */
  readonly profile: SandboxProfile;
}

export type TemplateAction =
  | { readonly type: 'apply-network-policy'; readonly policy: NetworkPolicy; readonly exists: boolean }
  | { readonly type: 'delete-network-policy'; readonly name: string }
  | EventAction;

export interface TemplatePlan {
  readonly actions: readonly TemplateAction[];
}

export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences: OwnerReference[];
  };
  spec: Record<string, unknown>;
}

/** On the NetworkPolicy: hash of the spec Sandbank wrote. */
export const SPEC_HASH_ANNOTATION = 'sandbank.dev/spec-hash';

/** One policy per template, named after it. */
export function networkPolicyName(templateName: string): string {
  return `${templateName}-sandbox-network-policy`.slice(0, 253);
}

export function planTemplate(o: TemplateObserved): TemplatePlan {
  const { template } = o;
  if (template.metadata.deletionTimestamp) return { actions: [] };
  const actions: TemplateAction[] = [];

  const podTemplate = template.spec.podTemplate;
  const violations = profileViolations(
    { ...podTemplate, spec: withSecureDefaults(podTemplate.spec, defaultRuntimeClass(o.profile)) },
    o.profile,
  );
  if (violations.length > 0) {
    actions.push(
      warningEvent(
        'TemplateRejected',
        `The sandbox profile forbids this template's pods; pools and claims get none: ${describeViolations(violations)}`,
      ),
    );
  }
  for (const message of templateWarnings(template, o.profile))
    actions.push(warningEvent('TemplateWarning', message));

  if (template.spec.networkPolicyManagement === 'Unmanaged') {
    if (o.policy?.controlledByTemplate) actions.push({ type: 'delete-network-policy', name: o.policy.name });
    return { actions };
  }
  const policy = desiredPolicy(template, o.router);
  // Compared by the hash of what we last wrote, not field by field: the API server adds defaults
  // (protocols, policy types) to the stored spec, so it never equals what we send.
  if (o.policy?.specHash !== policy.metadata.annotations[SPEC_HASH_ANNOTATION]) {
    if (o.policy && !o.policy.controlledByTemplate) {
      actions.push(
        warningEvent(
          'NetworkPolicyConflict',
          `NetworkPolicy ${o.policy.name} exists and is not managed by this template; leaving it alone`,
        ),
      );
      return { actions };
    }
    actions.push({ type: 'apply-network-policy', policy, exists: o.policy !== undefined });
  }
  return { actions };
}

/**
 * Default deny both ways for the template's Pods; ingress only from the router's Pods (plus the
 * template's own ingress rules); egress only what the template lists. DNS is not opened by
 * default: a sandbox that needs it says so in `networkPolicy.egress`.
 */
export function desiredPolicy(
  template: Readonly<Stored<SandboxTemplate>>,
  router: RouterPeer,
): NetworkPolicy {
  const name = template.metadata.name;
  // One peer per namespace, each pairing the pod labels with that namespace: a single peer
  // with an `In` namespace selector would say the same, but a peer each reads plainly in
  // `kubectl get networkpolicy -o yaml`. A peer without namespaceSelector selects pods of the
  // policy's own namespace, which is what `.` means.
  const fromRouter = router.namespaces.map((ns): Record<string, unknown> => {
    const podSelector = { matchLabels: { ...router.podLabels } };
    return ns === OWN_NAMESPACE
      ? { podSelector }
      : { podSelector, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } };
  });
  const spec = {
    podSelector: { matchLabels: { [Labels.sandboxTemplateRefHash]: nameHash(name) } },
    policyTypes: ['Ingress', 'Egress'],
    // `from: []` would admit every source: no router namespace means no router rule.
    ingress: [
      ...(fromRouter.length > 0 ? [{ from: fromRouter }] : []),
      ...(template.spec.networkPolicy?.ingress ?? []),
    ],
    egress: [...(template.spec.networkPolicy?.egress ?? [])],
  };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: networkPolicyName(name),
      labels: { [Labels.sandboxTemplateRefHash]: nameHash(name) },
      annotations: { [SPEC_HASH_ANNOTATION]: nameHash(stableJson(spec)) },
      ownerReferences: [
        controllerRef({
          apiVersion: EXTENSIONS_API_VERSION,
          kind: SANDBOX_TEMPLATE_KIND,
          metadata: template.metadata,
        }),
      ],
    },
    spec,
  };
}

/**
 * What the profile allows but users should know. A missing runtimeClassName (the profile fills
 * in its first class) and hostNetwork (always forbidden) no longer need a word here; a
 * service-account token is forbidden unless the namespace allows it, and then still worth one.
 */
function templateWarnings(template: Readonly<Stored<SandboxTemplate>>, profile: SandboxProfile): string[] {
  const warnings: string[] = [];
  const spec = template.spec.podTemplate.spec;
  if (spec.automountServiceAccountToken === true && profile.allowServiceAccountToken) {
    warnings.push(
      'podTemplate.spec.automountServiceAccountToken is true: code in the sandbox gets Kubernetes credentials',
    );
  }
  return warnings;
}
