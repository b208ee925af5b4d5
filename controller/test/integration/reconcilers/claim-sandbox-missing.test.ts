/**
 * A bound claim whose Sandbox is deleted out from under it, against the real API server with
 * the controller in-process: the claim says Ready=False/SandboxMissing (upstream v1beta1's
 * reason) and gets no other sandbox under its name, warm or cold.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { Annotations, Labels } from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import {
  CORE_GROUP_V1BETA1,
  EXT_V1BETA1,
  collectionPaths,
  isReady,
  poolShortfall,
  waitFor,
  type Obj,
} from '@sandbank/testing';
import type { ControllerApp } from '../../../src/app.js';
import { startControllerInProcess } from '../support.js';

const kc: KubeConfig = integrationKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const ns = `ctrl-claim-missing-${process.pid}`;
const paths = collectionPaths(ns);
const WAIT = { timeoutMs: 45_000 };
/** Several waits: more than the project's 60 s per test. */
const SLOW = 150_000;
const EXT_API = `${EXT_V1BETA1.group}/${EXT_V1BETA1.version}`;

type Condition = NonNullable<NonNullable<Obj['status']>['conditions']>[number];
interface Claimed extends Obj {
  status?: Obj['status'] & { sandbox?: { name?: string; podIPs?: string[] } };
}
const readyOf = (o: Obj | undefined): Condition | undefined =>
  o?.status?.conditions?.find((c) => c.type === 'Ready');

let app: ControllerApp;

async function create(plural: string, kind: string, name: string, spec: object): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...EXT_V1BETA1,
    namespace: ns,
    plural,
    body: { apiVersion: EXT_API, kind, metadata: { name }, spec },
  });
}
const sandboxPath = { ...CORE_GROUP_V1BETA1, namespace: ns, plural: 'sandboxes' };

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: ns } } });
  app = await startControllerInProcess(kc, { watchNamespace: ns });
  await create('sandboxtemplates', 'SandboxTemplate', 'missing', {
    podTemplate: {
      metadata: { labels: { app: 'missing' } },
      spec: { runtimeClassName: 'gvisor', containers: [{ name: 'agent', image: 'sandbank/runtime:1' }] },
    },
  });
  await create('sandboxwarmpools', 'SandboxWarmPool', 'missing-warm', {
    replicas: 1,
    sandboxTemplateRef: { name: 'missing' },
  });
}, 60_000);

afterAll(async () => {
  await app.manager.stop();
  await core.deleteNamespace({ name: ns });
}, 60_000);

it(
  'a warm-bound claim whose Sandbox is deleted says SandboxMissing and is not bound again',
  async () => {
    await waitFor(kc, paths.pools, 'missing-warm', (o) => poolShortfall(o, 1) === undefined, {
      ...WAIT,
      description: 'pool 1/1 ready',
    });
    await create('sandboxclaims', 'SandboxClaim', 'gone', { warmPoolRef: { name: 'missing-warm' } });
    await waitFor<Claimed>(kc, paths.claims, 'gone', isReady, { ...WAIT, description: 'claim Ready' });
    const sandbox = (await custom.getNamespacedCustomObject({ ...sandboxPath, name: 'gone' })) as Obj;
    const podName = sandbox.metadata.annotations?.[Annotations.podName] ?? '';
    expect(podName).toMatch(/^missing-warm-/);

    await custom.deleteNamespacedCustomObject({ ...sandboxPath, name: 'gone' });
    const missing = await waitFor<Claimed>(
      kc,
      paths.claims,
      'gone',
      (o) => readyOf(o)?.reason === 'SandboxMissing',
      { ...WAIT, description: 'claim SandboxMissing' },
    );
    expect(readyOf(missing)).toMatchObject({ status: 'False' });
    expect(readyOf(missing)?.message).toContain('Sandbox gone no longer exists');
    expect(missing?.status?.sandbox).toEqual({ name: 'gone', podIPs: [] });

    // The pool refills; its new member stays free: the claim takes nothing more.
    await waitFor(kc, paths.pools, 'missing-warm', (o) => poolShortfall(o, 1) === undefined, {
      ...WAIT,
      description: 'pool refilled',
    });
    // The bound Pod goes with its Sandbox; no Sandbox under the claim's name is made again.
    await waitFor(kc, paths.pods, podName, (o) => o === undefined, {
      ...WAIT,
      description: 'bound Pod gone',
    });
    await expect(custom.getNamespacedCustomObject({ ...sandboxPath, name: 'gone' })).rejects.toMatchObject({
      code: 404,
    });
    const claimed = await core.listNamespacedPod({ namespace: ns, labelSelector: Labels.claimUid });
    expect(claimed.items.map((p) => p.metadata?.name)).toEqual([]);
    const after = (await custom.getNamespacedCustomObject({
      ...EXT_V1BETA1,
      namespace: ns,
      plural: 'sandboxclaims',
      name: 'gone',
    })) as Claimed;
    expect(readyOf(after)?.reason).toBe('SandboxMissing');
  },
  SLOW,
);
