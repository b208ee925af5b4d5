/**
 * Sandbox lifecycle edges of issue #18 against the real API server, with the controller
 * in-process and kwok making Pods Running and Ready on a fake node: a warm-bound Sandbox that is
 * suspended and resumed.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, NodeV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Annotations, Labels, nameHash } from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import { AGENT_CREDENTIAL_ANNOTATION } from '@sandbank/kube';
import {
  CORE_GROUP,
  EXT,
  collectionPaths,
  isReady,
  poolShortfall,
  waitFor,
  type Obj,
} from '@sandbank/testing';
import { buildControllerApp, type ControllerApp } from '../../../src/app.js';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createMetrics } from '../../../src/observability/metrics.js';

const kc: KubeConfig = integrationKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const ns = `ctrl-lifecycle-${process.pid}`;
const paths = collectionPaths(ns);
const WAIT = { timeoutMs: 50_000 };

let app: ControllerApp;

interface PodView extends Obj {
  spec?: { containers?: { name: string; env?: { name: string; value?: string }[] }[] };
}

async function createCustom(
  group: typeof EXT | typeof CORE_GROUP,
  plural: string,
  body: object,
): Promise<void> {
  await custom.createNamespacedCustomObject({ ...group, namespace: ns, plural, body });
}

async function scaleSandbox(name: string, replicas: number): Promise<void> {
  await custom.patchNamespacedCustomObject({
    ...CORE_GROUP,
    namespace: ns,
    plural: 'sandboxes',
    name,
    body: [{ op: 'replace', path: '/spec/replicas', value: replicas }],
  });
}

const readPod = async (name: string): Promise<PodView> =>
  (await core.readNamespacedPod({ namespace: ns, name })) as unknown as PodView;

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: ns } } });
  // kwok runs no containers: the RuntimeClass only has to exist.
  await kc
    .makeApiClient(NodeV1Api)
    .createRuntimeClass({ body: { metadata: { name: 'gvisor' }, handler: 'runsc' } })
    .catch((error: unknown) => {
      if ((error as { code?: unknown }).code !== 409) throw error;
    });
  app = buildControllerApp({
    kubeConfig: kc,
    config: loadConfig({
      WATCH_NAMESPACE: ns,
      LEADER_ELECT: 'false',
      LOG_LEVEL: 'silent',
      ROUTER_NAMESPACE: 'sandbank-system',
    }),
    log: createLogger({ level: 'silent' }),
    metrics: createMetrics({ defaultMetrics: false }),
    agentKey: randomBytes(32),
  });
  await app.manager.start();
}, 60_000);

afterAll(async () => {
  await app.manager.stop();
  await core.deleteNamespace({ name: ns });
}, 60_000);

it('resumes a suspended warm-bound Sandbox on a new Pod of the warm Pod name', async () => {
  await createCustom(EXT, 'sandboxtemplates', {
    apiVersion: `${EXT.group}/${EXT.version}`,
    kind: 'SandboxTemplate',
    metadata: { name: 'resumable' },
    spec: {
      podTemplate: {
        metadata: { labels: { team: 'resume' }, annotations: { 'example.com/note': 'kept' } },
        spec: {
          runtimeClassName: 'gvisor',
          containers: [
            { name: 'agent', image: 'sandbank/runtime:1', env: [{ name: 'GREETING', value: 'hi' }] },
          ],
        },
      },
    },
  });
  await createCustom(EXT, 'sandboxwarmpools', {
    apiVersion: `${EXT.group}/${EXT.version}`,
    kind: 'SandboxWarmPool',
    metadata: { name: 'resumable-pool' },
    spec: { replicas: 1, sandboxTemplateRef: { name: 'resumable' } },
  });
  await waitFor(kc, paths.pools, 'resumable-pool', (o) => poolShortfall(o, 1) === undefined, {
    ...WAIT,
    description: 'pool 1/1 ready',
  });
  await createCustom(EXT, 'sandboxclaims', {
    apiVersion: `${EXT.group}/${EXT.version}`,
    kind: 'SandboxClaim',
    metadata: { name: 'sleeper' },
    spec: { sandboxTemplateRef: { name: 'resumable' } },
  });
  const bound = await waitFor(kc, paths.sandboxes, 'sleeper', isReady, { ...WAIT, description: 'warm bind' });
  const podName = bound?.metadata.annotations?.[Annotations.podName] ?? '';
  expect(podName).toMatch(/^resumable-pool-/);
  const warmPod = await waitFor(
    kc,
    paths.pods,
    podName,
    (p) => p?.metadata.ownerReferences?.[0]?.kind === 'Sandbox',
    {
      ...WAIT,
      description: 'warm pod adopted',
    },
  );
  const claimUid = warmPod?.metadata.labels?.[Labels.claimUid];
  expect(claimUid).toBeTruthy();

  await scaleSandbox('sleeper', 0);
  await waitFor(kc, paths.pods, podName, (p) => p === undefined, {
    ...WAIT,
    description: 'warm pod deleted',
  });
  await waitFor(
    kc,
    paths.sandboxes,
    'sleeper',
    (o) => o?.status?.conditions?.some((c) => c.type === 'Suspended' && c.status === 'True') ?? false,
    { ...WAIT, description: 'Suspended=True' },
  );

  await scaleSandbox('sleeper', 1);
  const resumed = await waitFor(kc, paths.sandboxes, 'sleeper', isReady, {
    ...WAIT,
    description: 'resumed Ready',
  });
  const conditions = resumed?.status?.conditions ?? [];
  expect(conditions.find((c) => c.type === 'Finished')).toBeUndefined();
  expect(conditions.find((c) => c.type === 'Suspended')).toMatchObject({
    status: 'False',
    reason: 'NotSuspended',
  });
  // The Sandbox still names the warm Pod: the router and the claim look the Pod up by that name.
  expect(resumed?.metadata.annotations?.[Annotations.podName]).toBe(podName);

  const pod = await readPod(podName);
  expect(pod.metadata.uid).not.toBe(warmPod?.metadata.uid);
  // What the router routes on (router/src/resolve): the Pod is controlled by the Sandbox's UID,
  // selected by the sandbox name hash and not by the pool label, and has its own agent credential.
  expect(pod.metadata.ownerReferences).toEqual([
    expect.objectContaining({ kind: 'Sandbox', uid: resumed?.metadata.uid, controller: true }),
  ]);
  expect(pod.metadata.labels).toMatchObject({
    [Labels.sandboxNameHash]: nameHash('sleeper'),
    [Labels.claimUid]: claimUid,
    [Labels.sandboxTemplateRefHash]: nameHash('resumable'),
    team: 'resume',
  });
  expect(pod.metadata.labels).not.toHaveProperty([Labels.pool]);
  expect(pod.metadata.annotations).toMatchObject({ 'example.com/note': 'kept' });
  expect(pod.metadata.annotations?.[AGENT_CREDENTIAL_ANNOTATION]).toMatch(/^v1\./);
  expect(pod.metadata.annotations?.[AGENT_CREDENTIAL_ANNOTATION]).not.toBe(
    warmPod?.metadata.annotations?.[AGENT_CREDENTIAL_ANNOTATION],
  );
  expect(pod.status?.podIP).toBeTruthy();
  // The Sandbox's pod template (what the claim gave it) is what the new Pod runs.
  expect(pod.spec?.containers?.[0]?.env).toEqual(expect.arrayContaining([{ name: 'GREETING', value: 'hi' }]));
  const claimObj = await waitFor(kc, paths.claims, 'sleeper', isReady, {
    ...WAIT,
    description: 'claim Ready',
  });
  expect(claimObj?.status?.sandbox?.name).toBe('sleeper');
});

it('still calls a warm-bound Pod that vanished without a suspend lost', async () => {
  await waitFor(kc, paths.pools, 'resumable-pool', (o) => poolShortfall(o, 1) === undefined, {
    ...WAIT,
    description: 'pool refilled',
  });
  await createCustom(EXT, 'sandboxclaims', {
    apiVersion: `${EXT.group}/${EXT.version}`,
    kind: 'SandboxClaim',
    metadata: { name: 'lost' },
    spec: { sandboxTemplateRef: { name: 'resumable' } },
  });
  const bound = await waitFor(kc, paths.sandboxes, 'lost', isReady, { ...WAIT, description: 'warm bind' });
  const podName = bound?.metadata.annotations?.[Annotations.podName] ?? '';
  await core.deleteNamespacedPod({ namespace: ns, name: podName });
  const failed = await waitFor(
    kc,
    paths.sandboxes,
    'lost',
    (o) => o?.status?.conditions?.some((c) => c.type === 'Finished' && c.status === 'True') ?? false,
    { ...WAIT, description: 'Finished=True' },
  );
  expect(failed?.status?.conditions?.find((c) => c.type === 'Finished')?.reason).toBe('PodFailed');
  await expect(readPod(podName)).rejects.toMatchObject({ code: 404 });
});
