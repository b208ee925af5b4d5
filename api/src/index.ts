/** @sandbank/api — the CRD schemas (zod), the types inferred from them, and pure helpers. */
export {
  nameHash,
  isDns1123Label,
  Dns1123Label,
  Dns1123Subdomain,
  DNS1123_LABEL_PATTERN,
  DNS1123_SUBDOMAIN_PATTERN,
  QUALIFIED_NAME_PATTERN,
  LABEL_VALUE_PATTERN,
} from './names.js';
export { Labels, Annotations, ProfileLabels, type LabelKey, type AnnotationKey } from './labels.js';
export {
  ObjectMeta,
  OwnerReference,
  PodMetadata,
  EmbeddedObjectMetadata,
  LabelMap,
  AnnotationMap,
  keyOf,
  parseKey,
  controllerRef,
  controllerOf,
  type ObjectKey,
} from './meta.js';
export {
  isStored,
  storedSchema,
  type NamespacedIdentity,
  type Stored,
  type StoredIdentity,
} from './stored.js';
export {
  Condition,
  ConditionStatus,
  Conditions,
  findCondition,
  isConditionTrue,
  setCondition,
  removeCondition,
  type ConditionUpdate,
} from './conditions.js';
export {
  Container,
  PodSpec,
  Pod,
  PodStatus,
  PodCondition,
  ContainerStatus,
  K8S_REF,
} from './kubernetes-types.js';
export {
  apiVersionOf,
  CONVERSION_WEBHOOK,
  type CrdDefinition,
  type CrdVersionPair,
  type PrinterColumn,
} from './crd-definition.js';
export { PodTemplate, PersistentVolumeClaimTemplate, SandboxTemplateRef } from './crds/common.js';
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
} from './crds/sandbox.js';
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
} from './crds/sandbox-template.js';
export {
  SandboxWarmPool,
  SandboxWarmPoolSpec,
  SandboxWarmPoolStatus,
  WarmPoolUpdateStrategyType,
  SANDBOX_WARM_POOL_KIND,
  SANDBOX_WARM_POOL_PLURAL,
  sandboxWarmPoolCrd,
} from './crds/sandbox-warm-pool.js';
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
} from './crds/sandbox-claim.js';
export { crdDefinitions } from './crds/all.js';
/** The v1beta1 schemas, constants and CRD definitions (served beside v1alpha1). */
export * as v1beta1 from './crds/v1beta1/index.js';
export { formatZodError } from './errors.js';
export { convertObject, ConversionAnnotations, type ConversionResult } from './conversion/index.js';
export {
  claimIntent,
  type ClaimIntent,
  type ClaimIntentInput,
  type ClaimIntentResult,
} from './claim-intent.js';
