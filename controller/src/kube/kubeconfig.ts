/**
 * Loading cluster credentials, so that nothing outside kube/ needs @kubernetes/client-node: pass
 * the returned object to createKubeClient / createInformer as it is.
 */
import { KubeConfig } from '@kubernetes/client-node';

export type { KubeConfig };

/** From a kubeconfig file, or — without a path — the pod's service account (in-cluster). */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromCluster();
  return kc;
}
