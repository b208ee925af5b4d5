/**
 * The claim benchmark's cleanup deletes every claim and waits for their Sandboxes to go: that is
 * kube-controller-manager's garbage collector following the owner references. On the fresh
 * control plane the benchmark runner starts (CRDs applied a moment before), the collector does
 * not watch the Sandbank kinds yet: it discovers new kinds every 30 s. A claim deleted before
 * then leaves its Sandbox to the collector's retries, and with hundreds of claims those back
 * off for minutes. So the benchmark's preparation must leave a control plane on which deleting
 * a claim removes its Sandbox at once — checked here on a control plane started exactly as the
 * runner starts it (its own, not the integration project's, whose setup already waits).
 */
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { applyManifests, crdManifests, startControlPlane, type ControlPlane } from '@sandbank/e2e';
import { loadKubeConfig } from '@sandbank/kube';
import {
  CORE_GROUP_V1BETA1 as CORE_GROUP,
  EXT_V1BETA1 as EXT,
  createNamespace,
  describeSandboxes,
  eventually,
  listSandboxes,
} from '@sandbank/testing';
import { prepareControlPlane } from '../../benchmarks/controller-claims.bench.js';

const NS = 'bench-cleanup';
const CLAIMS = 10;
const lines: string[] = [];
const log = (line: string): void => void lines.push(line);

let cp: ControlPlane | undefined;
let kc: KubeConfig;

beforeAll(async () => {
  cp = await startControlPlane({ onProgress: log });
  await applyManifests(cp.kubeconfigPath, crdManifests(), { onProgress: log });
  kc = loadKubeConfig(cp.kubeconfigPath);
}, 180_000);

afterAll(async () => {
  await cp?.stop();
}, 60_000);

/** A claim and the Sandbox the controller would give it: named after it, controlled by it. */
async function claimWithSandbox(custom: CustomObjectsApi, name: string): Promise<void> {
  const claim = (await custom.createNamespacedCustomObject({
    ...EXT,
    namespace: NS,
    plural: 'sandboxclaims',
    body: {
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxClaim',
      metadata: { name },
      spec: { warmPoolRef: { name: 'none' } },
    },
  })) as { metadata: { uid: string } };
  await custom.createNamespacedCustomObject({
    ...CORE_GROUP,
    namespace: NS,
    plural: 'sandboxes',
    body: {
      apiVersion: `${CORE_GROUP.group}/${CORE_GROUP.version}`,
      kind: 'Sandbox',
      metadata: {
        name,
        ownerReferences: [
          {
            apiVersion: `${EXT.group}/${EXT.version}`,
            kind: 'SandboxClaim',
            name,
            uid: claim.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      // Suspended: no controller runs here, and nothing should need a Pod.
      spec: {
        operatingMode: 'Suspended',
        podTemplate: { spec: { containers: [{ name: 'c', image: 'none' }] } },
      },
    },
  });
}

it('after the benchmark prepares a fresh control plane, deleting claims removes their Sandboxes at once', async () => {
  if (!cp) throw new Error('no control plane');
  await prepareControlPlane({ kubeconfigPath: cp.kubeconfigPath, log });
  await createNamespace(kc, NS);
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (let i = 0; i < CLAIMS; i++) await claimWithSandbox(custom, `claim-${i}`);
  expect(await listSandboxes(kc, NS)).toHaveLength(CLAIMS);

  await custom.deleteCollectionNamespacedCustomObject({ ...EXT, namespace: NS, plural: 'sandboxclaims' });
  // A collector that watches both kinds removes them in about a second; one that does not yet
  // watch them waits for its next discovery, up to 30 s away.
  await eventually(
    'sandboxes of the deleted claims gone',
    async () => {
      const left = (await listSandboxes(kc, NS)).length;
      return left === 0 ? undefined : `${left} left:\n${(await describeSandboxes(kc, NS)).join('\n')}`;
    },
    10_000,
    200,
  );
}, 180_000);
