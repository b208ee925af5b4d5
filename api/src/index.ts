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
  CONDITION_MESSAGE_MAX_CHARS,
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
// The unversioned names are the storage version, v1beta1: what the controller, the router and
// the kube layer read and write. v1alpha1 is served through the conversion webhook.
export {
  Sandbox,
  SandboxSpec,
  SandboxStatus,
  SandboxOperatingMode,
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
  SandboxTemplate,
  SandboxTemplateSpec,
  SandboxNetworkPolicy,
  NetworkPolicyManagement,
  EnvVarsInjectionPolicy,
  VolumeClaimTemplatesPolicy,
  EXTENSIONS_GROUP,
  EXTENSIONS_VERSION,
  EXTENSIONS_API_VERSION,
  SANDBOX_TEMPLATE_KIND,
  SANDBOX_TEMPLATE_PLURAL,
  sandboxTemplateCrd,
  SandboxWarmPool,
  SandboxWarmPoolSpec,
  SandboxWarmPoolStatus,
  WarmPoolUpdateStrategyType,
  SANDBOX_WARM_POOL_KIND,
  SANDBOX_WARM_POOL_PLURAL,
  sandboxWarmPoolCrd,
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
} from './crds/v1beta1/index.js';
export { crdDefinitions, crdVersionPairs } from './crds/all.js';
/** The v1beta1 schemas, constants and CRD definitions (the same as the unversioned names). */
export * as v1beta1 from './crds/v1beta1/index.js';
/** The v1alpha1 schemas, constants and CRD definitions (served through the conversion webhook). */
export * as v1alpha1 from './crds/v1alpha1/index.js';
export { formatZodError } from './errors.js';
export { convertObject, ConversionAnnotations, type ConversionResult } from './conversion/index.js';
export {
  claimIntent,
  type ClaimIntent,
  type ClaimIntentInput,
  type ClaimIntentResult,
} from './claim-intent.js';
