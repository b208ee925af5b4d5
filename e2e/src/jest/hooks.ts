// What the integration project's global setup and teardown do (loaded by global-setup.ts and
// global-teardown.ts): ONE real control plane per test run, with the generated CRDs applied and
// ONE conversion webhook serving them (v1alpha1 requests are converted to the stored v1beta1).
// Workers find it through SANDBANK_KUBECONFIG. A control plane the developer already runs
// (SANDBANK_KUBECONFIG set) is reused, never started or stopped here; the webhook is always
// this run's own (conversion settings are global per CRD, so no test file starts another).
import { startControlPlane } from '../cluster/control-plane.js';
import { startConversionWebhook } from '../cluster/conversion-webhook.js';
import { waitForGarbageCollector } from '../cluster/garbage-collector.js';
import { applyManifests, crdManifests } from '../cluster/manifests.js';
import { setControlPlane, setConversionWebhook, takeControlPlane, takeConversionWebhook } from './handle.js';

const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

export async function setUpControlPlane(): Promise<void> {
  let kubeconfigPath = process.env['SANDBANK_KUBECONFIG'];
  if (kubeconfigPath) {
    progress(`[sandbank] reusing the control plane of SANDBANK_KUBECONFIG=${kubeconfigPath}`);
  } else {
    process.stderr.write('\n');
    const cp = await startControlPlane({ onProgress: progress });
    setControlPlane(cp);
    kubeconfigPath = cp.kubeconfigPath;
    process.env['SANDBANK_KUBECONFIG'] = kubeconfigPath;
  }
  const crds = crdManifests();
  if (crds.length === 0) return;
  try {
    await applyManifests(kubeconfigPath, crds, { onProgress: progress });
    progress(`[sandbank] applied ${crds.length} CRD manifests from manifests/base/crds`);
    setConversionWebhook(await startConversionWebhook(kubeconfigPath, { onProgress: progress }));
    await waitForGarbageCollector(kubeconfigPath, { onProgress: progress });
  } catch (err) {
    await tearDownControlPlane();
    throw err;
  }
}

export async function tearDownControlPlane(): Promise<void> {
  await takeConversionWebhook()?.stop();
  const cp = takeControlPlane();
  if (!cp) return;
  delete process.env['SANDBANK_KUBECONFIG'];
  await cp.stop();
}
