/** Resolution and the API server: the part of the router that reads the cluster, through @sandbank/kube. */
export { createClusterLookup, ROUTABLE_POD_SELECTOR } from './cluster.js';
export type { SandboxLookup, ClusterLookupOptions } from './cluster.js';
export { createAccessReviewer } from './access-review.js';
export type { AccessReviewer, UserInfo, ResourceAttributes } from './access-review.js';
export { AGENT_PROTOCOL_LABEL, EXPOSE_ANY_PORT_ANNOTATION, oomKilledAfter, resolveSandbox } from './model.js';
export { PodChanges } from './pod-changes.js';
export type { AgentProtocol, Endpoint, PodRef, Resolution, SandboxRef, CacheReader } from './model.js';
export { loadKubeConfig } from '@sandbank/kube';
export type { KubeConfig } from '@sandbank/kube';
