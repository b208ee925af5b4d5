/**
 * Sandbox lifecycle edges of issue #18 against the real API server, with the controller
 * in-process and kwok making Pods Running and Ready on a fake node: a warm-bound Sandbox that is
 * suspended and resumed, and warm pools of a template with volume claim templates.
 */
import { CoreV1Api, CustomObjectsApi, StorageV1Api, type KubeConfig } from '@kubernetes/client-node';
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
import type { ControllerApp } from '../../../src/app.js';
import { startControllerInProcess } from '../support.js';

const kc: KubeConfig = integrationKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const ns = `ctrl-lifecycle-${process.pid}`;
const paths = collectionPaths(ns);
const WAIT = { timeoutMs: 50_000 };
const claimsPath = `/api/v1/namespaces/${ns}/persistentvolumeclaims`;
/** Cluster-scoped, so named per run: a StorageClass with no provisioner and the PVs it offers. */
const storageClass = `lifecycle-${process.pid}`;
const volumes = Array.from({ length: 4 }, (_, i) => `${storageClass}-${i}`);

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
  app = await startControllerInProcess(kc, { watchNamespace: ns });
}, 60_000);

afterAll(async () => {
  await app.manager.stop();
  await core.deleteNamespace({ name: ns });
  const storage = kc.makeApiClient(StorageV1Api);
  await storage.deleteStorageClass({ name: storageClass }).catch(() => undefined);
  // Released once the namespace's claims are gone; nothing waits for that.
  for (const name of volumes) await core.deletePersistentVolume({ name }).catch(() => undefined);
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

describe('a template with volumeClaimTemplates', () => {
  const controllerOfClaim = (c: Obj | undefined) =>
    c?.metadata.ownerReferences?.find((r) => r.controller === true);
  const volumeClaim = (name: string, predicate: (c: Obj | undefined) => boolean, description: string) =>
    waitFor(kc, claimsPath, name, predicate, { ...WAIT, description });
  const mountsClaim = (pod: { spec?: { volumes?: unknown[] } } | undefined, claimName: string) =>
    expect(pod?.spec?.volumes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'data', persistentVolumeClaim: { claimName } }),
      ]),
    );

  beforeAll(async () => {
    // No provisioner here: the claims bind to these volumes, so that the scheduler places the
    // Pods and kwok makes them Ready. Nothing is ever mounted.
    await kc.makeApiClient(StorageV1Api).createStorageClass({
      body: {
        metadata: { name: storageClass },
        provisioner: 'kubernetes.io/no-provisioner',
        volumeBindingMode: 'Immediate',
      },
    });
    for (const name of volumes) {
      await core.createPersistentVolume({
        body: {
          metadata: { name },
          spec: {
            storageClassName: storageClass,
            capacity: { storage: '1Gi' },
            accessModes: ['ReadWriteOnce'],
            persistentVolumeReclaimPolicy: 'Retain',
            hostPath: { path: `/var/lib/${name}` },
          },
        },
      });
    }
    await createCustom(EXT, 'sandboxtemplates', {
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxTemplate',
      metadata: { name: 'with-disk' },
      spec: {
        podTemplate: {
          spec: {
            runtimeClassName: 'gvisor',
            containers: [
              {
                name: 'agent',
                image: 'sandbank/runtime:1',
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
              },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data', labels: { disk: 'yes' } },
            spec: {
              storageClassName: storageClass,
              accessModes: ['ReadWriteOnce'],
              resources: { requests: { storage: '1Gi' } },
            },
          },
        ],
      },
    });
    await createCustom(EXT, 'sandboxwarmpools', {
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxWarmPool',
      metadata: { name: 'disk-pool' },
      spec: { replicas: 1, sandboxTemplateRef: { name: 'with-disk' } },
    });
  }, 60_000);

  const poolMember = async () =>
    (await core.listNamespacedPod({ namespace: ns })).items.filter(
      (p) => p.metadata?.labels?.[Labels.pool] === nameHash('disk-pool') && !p.metadata.deletionTimestamp,
    );

  it('binds claims warm to members that mount their own claims, which the Sandbox adopts', async () => {
    await waitFor(kc, paths.pools, 'disk-pool', (o) => poolShortfall(o, 1) === undefined, {
      ...WAIT,
      description: 'disk pool 1/1 ready',
    });
    const members = await poolMember();
    expect(members).toHaveLength(1);
    const member = members[0];
    const memberName = member?.metadata?.name ?? '';
    expect(memberName).toMatch(/^disk-pool-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    mountsClaim(member, `data-${memberName}`);
    const memberClaim = await volumeClaim(`data-${memberName}`, (c) => c !== undefined, 'member claim');
    expect(memberClaim?.metadata.labels).toMatchObject({ disk: 'yes' });
    expect(controllerOfClaim(memberClaim)).toMatchObject({
      kind: 'Pod',
      name: memberName,
      uid: member?.metadata?.uid,
    });

    await createCustom(EXT, 'sandboxclaims', {
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxClaim',
      metadata: { name: 'disky' },
      spec: { sandboxTemplateRef: { name: 'with-disk' } },
    });
    const sandbox = await waitFor(kc, paths.sandboxes, 'disky', isReady, {
      ...WAIT,
      description: 'disky Ready',
    });
    expect(sandbox?.metadata.annotations?.[Annotations.podName]).toBe(memberName);
    expect(sandbox?.metadata.labels?.[Labels.launchType]).toBe('warm');
    const adopted = await volumeClaim(
      `data-${memberName}`,
      (c) => controllerOfClaim(c)?.kind === 'Sandbox',
      'member claim adopted by the Sandbox',
    );
    expect(controllerOfClaim(adopted)).toMatchObject({
      kind: 'Sandbox',
      name: 'disky',
      uid: sandbox?.metadata.uid,
    });
    expect(adopted?.metadata.uid).toBe(memberClaim?.metadata.uid);
    // No claim of the Sandbox's own name: the Pod it runs on keeps mounting the one it had.
    await expect(
      core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'data-disky' }),
    ).rejects.toMatchObject({ code: 404 });

    // Suspended and resumed, the Sandbox keeps its claim and the new Pod mounts it again.
    await scaleSandbox('disky', 0);
    await waitFor(kc, paths.pods, memberName, (p) => p === undefined, {
      ...WAIT,
      description: 'pod deleted',
    });
    await scaleSandbox('disky', 1);
    await waitFor(kc, paths.sandboxes, 'disky', isReady, { ...WAIT, description: 'disky resumed' });
    mountsClaim(await core.readNamespacedPod({ namespace: ns, name: memberName }), `data-${memberName}`);
    const kept = await core.readNamespacedPersistentVolumeClaim({
      namespace: ns,
      name: `data-${memberName}`,
    });
    expect(kept.metadata?.uid).toBe(memberClaim?.metadata.uid);
  });

  it('collects the claims of an unclaimed member with it', async () => {
    await waitFor(kc, paths.pools, 'disk-pool', (o) => poolShortfall(o, 1) === undefined, {
      ...WAIT,
      description: 'disk pool refilled',
    });
    const [member] = await poolMember();
    const memberName = member?.metadata?.name ?? '';
    const memberClaim = await volumeClaim(`data-${memberName}`, (c) => c !== undefined, 'member claim');
    expect(controllerOfClaim(memberClaim)).toMatchObject({ kind: 'Pod', name: memberName });
    await custom.patchNamespacedCustomObject({
      ...EXT,
      namespace: ns,
      plural: 'sandboxwarmpools',
      name: 'disk-pool',
      body: [{ op: 'replace', path: '/spec/replicas', value: 0 }],
    });
    await waitFor(kc, paths.pods, memberName, (p) => p === undefined, {
      ...WAIT,
      description: 'member deleted',
    });
    await volumeClaim(`data-${memberName}`, (c) => c === undefined, 'its claim collected');
  });
});
