/**
 * @sandbank/kube — the one way Sandbank talks to the API server: a keep-alive transport, a typed
 * client, one error type, kubeconfig loading, and informers (paged list + watch, cached, indexed).
 */
export {
  AGENT_CREDENTIAL_ANNOTATION,
  AGENT_KEY_MIN_BYTES,
  AGENT_NONCE_BYTES,
  AGENT_TOKEN_DIGEST_ENV,
  AgentCredentialError,
  agentToken,
  agentTokenDigest,
  checkAgentKey,
  credentialAnnotation,
  parseCredentialAnnotation,
} from './agent-credential.js';
export { createKubeClient, FIELD_MANAGER } from './client.js';
export type { KubeClientOptions } from './client.js';
export { KubeError, isKubeError, toKubeError } from './errors.js';
export { createEventRecorder } from './events.js';
export type { EventRecorderOptions } from './events.js';
export { createInformer } from './informer.js';
export type { InformerOptions } from './informer.js';
export { loadKubeConfig } from './kubeconfig.js';
export type { KubeConfig } from './kubeconfig.js';
export type { Logger } from './logger.js';
export {
  CONFIG_MAPS,
  CUSTOM_RESOURCE_DEFINITIONS,
  EVENTS,
  LEASES,
  NAMESPACES,
  NETWORK_POLICIES,
  PERSISTENT_VOLUME_CLAIMS,
  PODS,
  SANDBOXES,
  SANDBOXES_V1ALPHA1,
  SANDBOX_CLAIMS,
  SANDBOX_CLAIMS_V1ALPHA1,
  SANDBOX_TEMPLATES,
  SANDBOX_TEMPLATES_V1ALPHA1,
  SANDBOX_WARM_POOLS,
  SANDBOX_WARM_POOLS_V1ALPHA1,
  SECRETS,
  SERVICES,
  apiVersionOf,
  resourcePath,
} from './resources.js';
export { microTime } from './time.js';
export { createTransport, transportFor } from './transport.js';
export type {
  KubeTransport,
  Query,
  QueryValue,
  RequestOptions,
  TransportOptions,
  WatchEvent,
  WatchOptions,
} from './transport.js';
export type {
  ApiCollection,
  Cache,
  DeleteOptions,
  EventRecorder,
  Indexer,
  Informer,
  InformerEvent,
  KubeClient,
  KubeErrorKind,
  KubeObject,
  ListOptions,
  ListResult,
  ObjectWrite,
  ResourceType,
} from './types.js';
