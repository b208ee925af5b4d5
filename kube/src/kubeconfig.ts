/**
 * Loading cluster credentials, so that nothing outside this package needs
 * @kubernetes/client-node: pass the returned object to createKubeClient / createInformer as it is.
 */
import { KubeConfig } from '@kubernetes/client-node';

export type { KubeConfig };

/**
 * From a kubeconfig file or, without a path, client-node's default chain: `$KUBECONFIG`, then
 * `~/.kube/config`, then the pod's service account (in a cluster neither file exists).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
