/** The client's Kubernetes layer: the only files that import @kubernetes/client-node. */
export { API_TIMEOUT_MS, KubeApi, loadKubeConfig, messageOf } from './api.js';
export type { KubeOptions } from './api.js';
export {
  Claims,
  claimBody,
  claimOutcome,
  claimState,
  claimVersion,
  COLD_START,
  requireTemplateOrPool,
  TERMINAL_CLAIM_REASONS,
} from './claims.js';
export type { ClaimObject, ClaimRequest, ClaimState, ClaimVersion, ServedVersions } from './claims.js';
export { Cluster } from './cluster.js';
export type { ForwardTarget, SecretLookup, ServiceLookup } from './cluster.js';
export { MAX_FORWARDED_CONNECTIONS, startPortForward } from './port-forward.js';
export type { LocalPortForward } from './port-forward.js';
