/**
 * The v1beta1 API (upstream agent-sandbox v1.0's field set), served beside v1alpha1. Names match
 * the unversioned (v1alpha1) exports, so switching a module is a change of import.
 */
import type { CrdDefinition } from '../../crd-definition.js';
import { sandboxCrd } from './sandbox.js';
import { sandboxClaimCrd } from './sandbox-claim.js';
import { sandboxTemplateCrd } from './sandbox-template.js';
import { sandboxWarmPoolCrd } from './sandbox-warm-pool.js';

export * from './versions.js';
export {
  Sandbox,
  SandboxSpec,
  SandboxStatus,
  SandboxOperatingMode,
  SandboxShutdownPolicy,
  SandboxConditionType,
  SandboxReadyReason,
  SandboxSuspendedReason,
  SANDBOX_KIND,
  SANDBOX_PLURAL,
  sandboxCrd,
} from './sandbox.js';
export {
  SandboxTemplate,
  SandboxTemplateSpec,
  SandboxNetworkPolicy,
  NetworkPolicyManagement,
  EnvVarsInjectionPolicy,
  VolumeClaimTemplatesPolicy,
  SANDBOX_TEMPLATE_KIND,
  SANDBOX_TEMPLATE_PLURAL,
  sandboxTemplateCrd,
} from './sandbox-template.js';
export {
  SandboxWarmPool,
  SandboxWarmPoolSpec,
  SandboxWarmPoolStatus,
  WarmPoolUpdateStrategyType,
  SANDBOX_WARM_POOL_KIND,
  SANDBOX_WARM_POOL_PLURAL,
  sandboxWarmPoolCrd,
} from './sandbox-warm-pool.js';
export {
  SandboxClaim,
  SandboxClaimSpec,
  SandboxClaimStatus,
  ClaimedSandboxStatus,
  ClaimLifecycle,
  ClaimShutdownPolicy,
  ClaimEnvVar,
  WarmPoolRef,
  ClaimConditionType,
  ClaimReadyReason,
  TERMINAL_CLAIM_REASONS,
  FINAL_CLAIM_REASONS,
  SANDBOX_CLAIM_KIND,
  SANDBOX_CLAIM_PLURAL,
  sandboxClaimCrd,
} from './sandbox-claim.js';

/** Every v1beta1 custom resource, in the order of the v1alpha1 list (same CRD files). */
export const crdDefinitions: readonly CrdDefinition[] = [
  sandboxCrd,
  sandboxTemplateCrd,
  sandboxWarmPoolCrd,
  sandboxClaimCrd,
];
