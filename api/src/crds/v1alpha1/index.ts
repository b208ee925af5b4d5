/**
 * The v1alpha1 API (Sandbank's first, the GKE guide's), still served through the conversion
 * webhook. Same names as the v1beta1 exports, so a v1alpha1 client is a change of import.
 */
import type { CrdDefinition } from '../../crd-definition.js';
import { sandboxCrd } from '../sandbox.js';
import { sandboxClaimCrd } from '../sandbox-claim.js';
import { sandboxTemplateCrd } from '../sandbox-template.js';
import { sandboxWarmPoolCrd } from '../sandbox-warm-pool.js';

export {
  Sandbox,
  SandboxSpec,
  SandboxStatus,
  SandboxShutdownPolicy,
  SandboxConditionType,
  SandboxReadyReason,
  SandboxSuspendedReason,
  SANDBOX_GROUP,
  SANDBOX_VERSION,
  SANDBOX_API_VERSION,
  SANDBOX_KIND,
  SANDBOX_PLURAL,
  sandboxCrd,
} from '../sandbox.js';
export {
  SandboxTemplate,
  SandboxTemplateSpec,
  SandboxNetworkPolicy,
  NetworkPolicyManagement,
  EnvVarsInjectionPolicy,
  EXTENSIONS_GROUP,
  EXTENSIONS_VERSION,
  EXTENSIONS_API_VERSION,
  SANDBOX_TEMPLATE_KIND,
  SANDBOX_TEMPLATE_PLURAL,
  sandboxTemplateCrd,
} from '../sandbox-template.js';
export {
  SandboxWarmPool,
  SandboxWarmPoolSpec,
  SandboxWarmPoolStatus,
  WarmPoolUpdateStrategyType,
  SANDBOX_WARM_POOL_KIND,
  SANDBOX_WARM_POOL_PLURAL,
  sandboxWarmPoolCrd,
} from '../sandbox-warm-pool.js';
export {
  SandboxClaim,
  SandboxClaimSpec,
  SandboxClaimStatus,
  ClaimLifecycle,
  ClaimShutdownPolicy,
  ClaimEnvVar,
  WarmPoolPolicy,
  WARM_POOL_DEFAULT,
  WARM_POOL_NONE,
  ClaimConditionType,
  ClaimReadyReason,
  TERMINAL_CLAIM_REASONS,
  SANDBOX_CLAIM_KIND,
  SANDBOX_CLAIM_PLURAL,
  sandboxClaimCrd,
} from '../sandbox-claim.js';

/** Every v1alpha1 custom resource, in the order the CRD files are written. */
export const crdDefinitions: readonly CrdDefinition[] = [
  sandboxCrd,
  sandboxTemplateCrd,
  sandboxWarmPoolCrd,
  sandboxClaimCrd,
];
