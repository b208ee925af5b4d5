// The API server of the test control plane, through @sandbank/kube like everything else.
import { loadKubeConfig, transportFor } from '@sandbank/kube';
import type { KubeConfig } from '@sandbank/kube';

/**
 * The kubeconfig of the control plane the integration global setup started (or the one the
 * developer exported as SANDBANK_KUBECONFIG).
 */
export function integrationKubeConfig(): KubeConfig {
  const path = process.env['SANDBANK_KUBECONFIG'];
  if (!path) {
    throw new Error('SANDBANK_KUBECONFIG is not set: run this suite in the jest `integration` project');
  }
  return loadKubeConfig(path);
}

/**
 * GET a path of the API server (e.g. `/api/v1/namespaces/x/pods?fieldSelector=...`) as JSON; a
 * failure is a `KubeError`. `T` is the caller's view of the answer: nothing checks it.
 */
export function getJson<T>(kc: KubeConfig, path: string): Promise<T> {
  return transportFor(kc).request<T>({ method: 'GET', path });
}
