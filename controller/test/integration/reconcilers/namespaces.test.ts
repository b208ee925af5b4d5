/**
 * WATCH_NAMESPACE as a list, against the real API server: the controller reconciles the
 * SandboxTemplates and SandboxWarmPools of the namespaces it was given and never touches (nor
 * caches) those of a namespace it was not, even one whose objects existed before it started.
 */
import { CoreV1Api, CustomObjectsApi, NetworkingV1Api, type KubeConfig } from '@kubernetes/client-node';
import { integrationKubeConfig } from '@sandbank/e2e';
import { EXT, waitFor, type Obj } from '@sandbank/testing';
import type { ControllerApp } from '../../../src/app.js';
import { startControllerInProcess } from '../support.js';

const kc: KubeConfig = integrationKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const networking = kc.makeApiClient(NetworkingV1Api);
const suffix = `${process.pid}-${Date.now().toString(36)}`;
const watchedA = `ctrl-ns-a-${suffix}`;
const watchedB = `ctrl-ns-b-${suffix}`;
const unwatched = `ctrl-ns-c-${suffix}`;
const TEMPLATE = 'tpl';
const POOL = 'pool';
const POLICY = `${TEMPLATE}-sandbox-network-policy`;
const policies = (ns: string) => `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`;
const pools = (ns: string) => `/apis/${EXT.group}/${EXT.version}/namespaces/${ns}/sandboxwarmpools`;

let app: ControllerApp | undefined;

async function createObjects(namespace: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await custom.createNamespacedCustomObject({
    ...EXT,
    namespace,
    plural: 'sandboxtemplates',
    body: {
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxTemplate',
      metadata: { name: TEMPLATE },
      spec: {
        podTemplate: {
          spec: { runtimeClassName: 'gvisor', containers: [{ name: 'main', image: 'runtime:1' }] },
        },
      },
    },
  });
  await custom.createNamespacedCustomObject({
    ...EXT,
    namespace,
    plural: 'sandboxwarmpools',
    body: {
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxWarmPool',
      metadata: { name: POOL },
      spec: { replicas: 1, sandboxTemplateRef: { name: TEMPLATE } },
    },
  });
}

const podsIn = async (namespace: string): Promise<number> =>
  (await core.listNamespacedPod({ namespace })).items.length;

beforeAll(async () => {
  // The unwatched namespace's objects exist before the controller starts, so its first lists
  // would pick them up if it listed that namespace at all.
  await createObjects(unwatched);
  app = await startControllerInProcess(kc, { watchNamespace: `${watchedA},${watchedB}` });
  await createObjects(watchedA);
  await createObjects(watchedB);
}, 120_000);

afterAll(async () => {
  await app?.manager.stop();
  for (const name of [watchedA, watchedB, unwatched])
    await core.deleteNamespace({ name }).catch(() => undefined);
}, 60_000);

it('reconciles templates and warm pools in every watched namespace', async () => {
  for (const ns of [watchedA, watchedB]) {
    await waitFor(kc, policies(ns), POLICY, (p) => p !== undefined, {
      description: `${ns}: template NetworkPolicy`,
      timeoutMs: 60_000,
    });
    await waitFor(kc, pools(ns), POOL, (p: Obj | undefined) => p?.status?.replicas === 1, {
      description: `${ns}: warm pool with one pod`,
      timeoutMs: 60_000,
    });
    expect(await podsIn(ns)).toBe(1);
  }
}, 150_000);

it('leaves a namespace it does not watch alone, and does not even cache it', async () => {
  // The watched namespaces' objects were created after these and are reconciled (the test
  // above, or this wait): the controller had every chance to act on the unwatched ones.
  await waitFor(kc, pools(watchedB), POOL, (p: Obj | undefined) => p?.status?.replicas === 1, {
    timeoutMs: 60_000,
  });
  expect(await podsIn(unwatched)).toBe(0);
  const pool = (await custom.getNamespacedCustomObject({
    ...EXT,
    namespace: unwatched,
    plural: 'sandboxwarmpools',
    name: POOL,
  })) as Obj;
  expect(pool.status?.replicas).toBeUndefined();
  expect((await networking.listNamespacedNetworkPolicy({ namespace: unwatched })).items).toEqual([]);

  const caches = app?.caches;
  if (!caches) throw new Error('the controller did not start');
  const namespaces = new Set(
    [...caches.templates.list(), ...caches.pools.list(), ...caches.pods.list()].map(
      (o) => o.metadata.namespace,
    ),
  );
  expect([...namespaces].sort()).toEqual([watchedA, watchedB].sort());
  expect(caches.pools.get(unwatched, POOL)).toBeUndefined();
  expect(caches.pools.get(watchedA, POOL)?.metadata.namespace).toBe(watchedA);
}, 90_000);
