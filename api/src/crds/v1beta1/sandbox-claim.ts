/**
 * `SandboxClaim` (extensions.agents.x-k8s.io/v1beta1): a user's request for one sandbox, named by
 * its pool (`warmPoolRef`); the template comes from the pool. Upstream v1.0's field set.
 *
 * `warmPoolRef` is optional here although upstream requires it: a claim created through v1alpha1
 * with `warmpool: default|none` names no pool, and must stay readable and updatable in v1beta1.
 * Its intent travels in an annotation; `claimIntent()` is the only reader. A v1beta1 claim with
 * neither is answered Ready=False/InvalidConfiguration by the controller.
 */
import { z } from 'zod';
import type { CrdDefinition } from '../../crd-definition.js';
import { PodMetadata } from '../../meta.js';
import { Dns1123Subdomain } from '../../names.js';
import { VolumeClaimTemplates, resourceSchema } from '../common.js';
import {
  ClaimConditionType,
  ClaimEnvVar,
  ClaimLifecycle,
  ClaimReadyReason as ClaimReadyReasonV1alpha1,
  ClaimShutdownPolicy,
  SANDBOX_CLAIM_KIND,
  SANDBOX_CLAIM_PLURAL,
  TERMINAL_CLAIM_REASONS as TERMINAL_V1ALPHA1,
} from '../sandbox-claim.js';
import { ClaimedSandboxStatus, SandboxClaimStatus } from '../status.js';
import { EXTENSIONS_API_VERSION, EXTENSIONS_GROUP, EXTENSIONS_VERSION } from './versions.js';

export { SANDBOX_CLAIM_KIND, SANDBOX_CLAIM_PLURAL, ClaimConditionType };
export { ClaimEnvVar, ClaimLifecycle, ClaimShutdownPolicy, ClaimedSandboxStatus, SandboxClaimStatus };

/** Reference to a SandboxWarmPool in the claim's namespace. */
export const WarmPoolRef = z.strictObject({
  name: Dns1123Subdomain.describe('Name of a SandboxWarmPool in the same namespace.'),
});
export type WarmPoolRef = z.infer<typeof WarmPoolRef>;

export const SandboxClaimSpec = z.strictObject({
  warmPoolRef: WarmPoolRef.optional().describe(
    'The pool the sandbox comes from (warm when it has a ready member, else a cold start of its template).',
  ),
  lifecycle: ClaimLifecycle.optional(),
  additionalPodMetadata: PodMetadata.optional().describe('Labels and annotations added to the Pod.'),
  env: z
    .array(ClaimEnvVar)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'atomic' })
    .describe("Environment variables for the sandbox (needs the template's envVarsInjectionPolicy)."),
  volumeClaimTemplates: VolumeClaimTemplates.optional().describe(
    "PersistentVolumeClaims for the sandbox (needs the template's volumeClaimTemplatesPolicy; forces a cold start).",
  ),
});
export type SandboxClaimSpec = z.infer<typeof SandboxClaimSpec>;

export const SandboxClaim = resourceSchema(
  EXTENSIONS_API_VERSION,
  SANDBOX_CLAIM_KIND,
  SandboxClaimSpec,
  SandboxClaimStatus,
);
export type SandboxClaim = z.infer<typeof SandboxClaim>;

/**
 * Every reason a claim's Ready condition can carry: v1alpha1's, plus what v1beta1 clients know.
 * A Sandbox's Ready condition is forwarded verbatim, so its reasons appear here too; upstream's
 * SDK fails fast on the terminal ones instead of waiting out its timeout.
 */
export const ClaimReadyReason = {
  ...ClaimReadyReasonV1alpha1,
  /** Ready=True, forwarded from the Sandbox: its Pod is Running, Ready, with an IP. */
  DependenciesReady: 'DependenciesReady',
  /** Forwarded: the Sandbox's Pod (or Service) is not ready yet. */
  DependenciesNotReady: 'DependenciesNotReady',
  /** Forwarded, final: the Pod failed (or was lost after binding). */
  PodFailed: 'PodFailed',
  /** Forwarded, final: the Pod exited successfully. */
  PodSucceeded: 'PodSucceeded',
  /** Forwarded: the Sandbox's operatingMode is Suspended. */
  SandboxSuspended: 'SandboxSuspended',
  /** Forwarded, final: the Sandbox's shutdownTime passed (policy Retain). */
  SandboxExpired: 'SandboxExpired',
  /** Terminal: volumeClaimTemplates is set but the template's volumeClaimTemplatesPolicy forbids it (or a name clashes). */
  VolumeClaimTemplatesError: 'VolumeClaimTemplatesError',
  /** Terminal: the claim says neither which pool nor which template it wants (or says it twice, differently). */
  InvalidConfiguration: 'InvalidConfiguration',
  /**
   * Terminal: the claim was bound and its Sandbox was deleted. Upstream creates another one in its
   * place; Sandbank does not, so a client never carries on in a fresh sandbox without knowing it.
   */
  SandboxMissing: 'SandboxMissing',
} as const;
export type ClaimReadyReason = (typeof ClaimReadyReason)[keyof typeof ClaimReadyReason];

/** Reasons that never change by themselves (while the claim's generation and its cause stay). */
export const TERMINAL_CLAIM_REASONS: ReadonlySet<ClaimReadyReason> = new Set<ClaimReadyReason>([
  ...TERMINAL_V1ALPHA1,
  ClaimReadyReason.PodFailed,
  ClaimReadyReason.PodSucceeded,
  ClaimReadyReason.SandboxExpired,
  ClaimReadyReason.VolumeClaimTemplatesError,
  ClaimReadyReason.InvalidConfiguration,
  ClaimReadyReason.SandboxMissing,
]);

/** Terminal reasons no spec edit can lift: the sandbox is over. */
export const FINAL_CLAIM_REASONS: ReadonlySet<ClaimReadyReason> = new Set<ClaimReadyReason>([
  ClaimReadyReason.ClaimExpired,
  ClaimReadyReason.SandboxFailed,
  ClaimReadyReason.PodFailed,
  ClaimReadyReason.PodSucceeded,
  ClaimReadyReason.SandboxExpired,
]);

export const sandboxClaimCrd: CrdDefinition = {
  group: EXTENSIONS_GROUP,
  version: EXTENSIONS_VERSION,
  kind: SANDBOX_CLAIM_KIND,
  plural: SANDBOX_CLAIM_PLURAL,
  singular: 'sandboxclaim',
  shortNames: ['sandboxclaim', 'sbc'],
  description: 'A SandboxClaim asks for one sandbox from a pool, warm when the pool has one ready.',
  schema: SandboxClaim,
  subresources: { status: true },
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Sandbox', type: 'string', jsonPath: '.status.sandbox.name' },
    { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
    { name: 'Pool', type: 'string', jsonPath: '.spec.warmPoolRef.name', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
