// `npm run cluster:control-plane [state-dir]`: starts a control plane, applies the generated CRDs
// (manifests/base/crds/*.yaml, if any) with the conversion webhook they need for v1alpha1,
// prints how to use it, and stops both on SIGINT/SIGTERM.
import { startConversionWebhook, type ConversionWebhook } from '../cluster/conversion-webhook.js';
import { applyManifests, crdManifests } from '../cluster/manifests.js';
import { startControlPlane } from '../cluster/control-plane.js';

const stateDir = process.argv[2];
const cp = await startControlPlane(stateDir ? { stateDir } : {});
if (cp.reused) {
  console.log(`A control plane is already running in ${cp.stateDir}; leaving it to its owner.`);
  console.log(`export KUBECONFIG=${cp.kubeconfigPath}`);
  process.exit(0);
}

let stopping = false;
let webhook: ConversionWebhook | undefined;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  console.error(`\n${signal}: stopping the control plane`);
  Promise.resolve(webhook?.stop())
    .then(() => cp.stop())
    .then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

try {
  const crds = crdManifests();
  if (crds.length > 0) {
    const applied = await applyManifests(cp.kubeconfigPath, crds);
    console.error(`applied ${applied.length} objects from manifests/base/crds`);
    webhook = await startConversionWebhook(cp.kubeconfigPath, { onProgress: (line) => console.error(line) });
  } else {
    console.error('no manifests/base/crds/*.yaml yet: no CRDs applied');
  }
} catch (err) {
  console.error(err);
  shutdown('error applying CRDs');
}

console.log(`kubeconfig: ${cp.kubeconfigPath}`);
console.log(`export KUBECONFIG=${cp.kubeconfigPath}`);
console.log('Ctrl-C stops it.');
// The signal handlers keep the process alive until then.
setInterval(() => undefined, 1 << 30);
