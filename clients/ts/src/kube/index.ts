/** The client's Kubernetes layer (the only files that import @kubernetes/client-node), as the lifecycle uses it. */
export { API_TIMEOUT_MS, KubeApi, loadKubeConfig } from './api.js';
export type { KubeOptions } from './api.js';
export { Claims, claimBody, claimVersion, requireTemplateOrPool } from './claims.js';
export type { ClaimObject, ClaimRequest, ClaimState } from './claims.js';
export { Cluster } from './cluster.js';
