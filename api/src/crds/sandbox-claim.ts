/** `SandboxClaim` (extensions.agents.x-k8s.io/v1alpha1): a user's request for one sandbox. */
import { z } from 'zod';
import { Conditions } from '../conditions.js';
import type { CrdDefinition } from '../crd-definition.js';
import { PodMetadata } from '../meta.js';
import { SandboxTemplateRef, Timestamp, int32, resourceSchema } from './common.js';
import { EXTENSIONS_API_VERSION, EXTENSIONS_GROUP, EXTENSIONS_VERSION } from './sandbox-template.js';

export const SANDBOX_CLAIM_KIND = 'SandboxClaim';
export const SANDBOX_CLAIM_PLURAL = 'sandboxclaims';

export const ClaimShutdownPolicy = z.enum(['Delete', 'DeleteForeground', 'Retain']);
export type ClaimShutdownPolicy = z.infer<typeof ClaimShutdownPolicy>;

export const ClaimLifecycle = z.strictObject({
  shutdownTime: Timestamp.optional().describe('When the claim expires.'),
  shutdownPolicy: ClaimShutdownPolicy.default('Retain').describe(
    'At expiry: Delete or DeleteForeground remove the claim (and so its sandbox); Retain keeps it with Ready=False/ClaimExpired.',
  ),
  ttlSecondsAfterFinished: int32()
    .min(0)
    .optional()
    .describe('Expire this many seconds after the sandbox finished (its Pod exited).'),
});
export type ClaimLifecycle = z.infer<typeof ClaimLifecycle>;

/** `default`: any pool of the template; `none`: always cold-start; otherwise a pool name. */
export const WarmPoolPolicy = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be "default", "none" or a pool name',
  );
export const WARM_POOL_DEFAULT = 'default';
export const WARM_POOL_NONE = 'none';

export const ClaimEnvVar = z.strictObject({
  name: z.string().min(1).describe('Variable name.'),
  value: z.string().describe('Variable value.'),
  containerName: z.string().optional().describe('Container to set it in; the first container when empty.'),
});
export type ClaimEnvVar = z.infer<typeof ClaimEnvVar>;

export const SandboxClaimSpec = z.strictObject({
  sandboxTemplateRef: SandboxTemplateRef,
  warmpool: WarmPoolPolicy.default(WARM_POOL_DEFAULT).describe(
    'Where the sandbox comes from: "default" (any warm pool of the template, else a cold start), "none" (always cold) or a pool name.',
  ),
  lifecycle: ClaimLifecycle.optional(),
  additionalPodMetadata: PodMetadata.optional().describe('Labels and annotations added to the Pod.'),
  env: z
    .array(ClaimEnvVar)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'atomic' })
    .describe(
      "Environment variables for the sandbox (needs the template's envVarsInjectionPolicy; forces a cold start).",
    ),
});
export type SandboxClaimSpec = z.infer<typeof SandboxClaimSpec>;

/**
 * The one status of both versions (see `status.ts`): `serviceFQDN` came with v1beta1 and is
 * declared here too, or the API server would prune it from every v1alpha1 read and status write.
 */
export const ClaimedSandboxStatus = z.strictObject({
  name: z.string().optional().describe('Name of the Sandbox (always the claim name).'),
  podIPs: z.array(z.string()).optional(),
  serviceFQDN: z.string().optional().describe("DNS name of the Sandbox's headless Service, if any."),
});
export type ClaimedSandboxStatus = z.infer<typeof ClaimedSandboxStatus>;

export const SandboxClaimStatus = z.strictObject({
  conditions: Conditions.optional(),
  sandbox: ClaimedSandboxStatus.optional(),
});
export type SandboxClaimStatus = z.infer<typeof SandboxClaimStatus>;

export const SandboxClaim = resourceSchema(
  EXTENSIONS_API_VERSION,
  SANDBOX_CLAIM_KIND,
  SandboxClaimSpec,
  SandboxClaimStatus,
);
export type SandboxClaim = z.infer<typeof SandboxClaim>;

export const ClaimConditionType = {
  /** The summary: True when the claim's Sandbox is Ready and routable. */
  Ready: 'Ready',
} as const;
export type ClaimConditionType = (typeof ClaimConditionType)[keyof typeof ClaimConditionType];

/** Every reason a claim's Ready condition can carry. `terminal` ones never change by themselves. */
export const ClaimReadyReason = {
  /** Ready=True: the sandbox is bound and its Pod is Ready. */
  SandboxReady: 'SandboxReady',
  /** Transient: being bound or cold-started. */
  Pending: 'Pending',
  /** Transient: the sandbox exists but its Pod is not Ready yet. */
  SandboxNotReady: 'SandboxNotReady',
  /** Terminal: spec.sandboxTemplateRef names no SandboxTemplate. */
  TemplateNotFound: 'TemplateNotFound',
  /** Terminal: spec.warmpool names no SandboxWarmPool of this template. */
  WarmPoolNotFound: 'WarmPoolNotFound',
  /** Terminal: additionalPodMetadata is not allowed (reserved keys, conflicts with the template). */
  InvalidMetadata: 'InvalidMetadata',
  /** Terminal: env is set but the template's envVarsInjectionPolicy forbids it. */
  EnvVarsInjectionRejected: 'EnvVarsInjectionRejected',
  /** Terminal: lifecycle.shutdownTime or ttlSecondsAfterFinished passed (policy Retain). */
  ClaimExpired: 'ClaimExpired',
  /** Terminal: the Pod failed or was lost after binding. */
  SandboxFailed: 'SandboxFailed',
  /**
   * The sandbox profile forbids the template's pod (the message names each field). Not
   * terminal: an admin's namespace label or a template edit can lift it.
   */
  TemplateRejected: 'TemplateRejected',
} as const;
export type ClaimReadyReason = (typeof ClaimReadyReason)[keyof typeof ClaimReadyReason];

export const TERMINAL_CLAIM_REASONS: ReadonlySet<ClaimReadyReason> = new Set([
  ClaimReadyReason.TemplateNotFound,
  ClaimReadyReason.WarmPoolNotFound,
  ClaimReadyReason.InvalidMetadata,
  ClaimReadyReason.EnvVarsInjectionRejected,
  ClaimReadyReason.ClaimExpired,
  ClaimReadyReason.SandboxFailed,
]);

export const sandboxClaimCrd: CrdDefinition = {
  group: EXTENSIONS_GROUP,
  version: EXTENSIONS_VERSION,
  kind: SANDBOX_CLAIM_KIND,
  plural: SANDBOX_CLAIM_PLURAL,
  singular: 'sandboxclaim',
  shortNames: ['sandboxclaim', 'sbc'],
  description: 'A SandboxClaim asks for one sandbox of a template, warm from a pool when one is ready.',
  schema: SandboxClaim,
  subresources: { status: true },
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Sandbox', type: 'string', jsonPath: '.status.sandbox.name' },
    { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
    { name: 'Template', type: 'string', jsonPath: '.spec.sandboxTemplateRef.name', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
