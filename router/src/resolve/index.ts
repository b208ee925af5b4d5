/** Resolution and the API server: the only part of the router that imports client-node. */
import { KubeConfig } from '@kubernetes/client-node';

export { createClusterLookup, ROUTABLE_POD_SELECTOR } from './cluster.js';
export type { SandboxLookup, ClusterLookupOptions } from './cluster.js';
export { createAccessReviewer } from './access-review.js';
export type { AccessReviewer, UserInfo, ResourceAttributes } from './access-review.js';
export { AGENT_PROTOCOL_LABEL, resolveSandbox } from './model.js';
export type { AgentProtocol, Endpoint, Resolution, SandboxRef, CacheReader } from './model.js';
export type { KubeConfig } from '@kubernetes/client-node';

/** In cluster: the pod's service account; elsewhere: KUBECONFIG or ~/.kube/config. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
