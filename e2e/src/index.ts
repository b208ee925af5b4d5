export { startControlPlane } from './cluster/control-plane.js';
export type { ControlPlane, StartControlPlaneOptions } from './cluster/control-plane.js';
export { applyManifests, crdManifests, yamlFilesIn } from './cluster/manifests.js';
export { waitForGarbageCollector } from './cluster/garbage-collector.js';
export { startConversionWebhook } from './cluster/conversion-webhook.js';
export type { ConversionWebhook, ConversionWebhookOptions } from './cluster/conversion-webhook.js';
export type { ApplyOptions } from './cluster/manifests.js';
export { certManagerCrdManifests, gatewayApiCrdManifests } from './cluster/gateway-api.js';
export type { GatewayApiCrdOptions } from './cluster/gateway-api.js';
export {
  assertControlPlaneBuilt,
  clusterBinary,
  clusterDir,
  clusterVersions,
  repoRoot,
  sandbankCache,
} from './cluster/paths.js';
export type { ClusterBinaryName, ClusterVersions } from './cluster/paths.js';
export { getJson, integrationKubeConfig } from './kube.js';
export {
  buildImage,
  defaultClusterStateDir,
  loadImages,
  startLocalCluster,
  stopLocalCluster,
  verifyClean,
} from './cluster/node.js';
export type { LocalCluster, StartLocalClusterOptions } from './cluster/node.js';
