/**
 * What an upstream v1beta1 client (agent-sandbox SDK 1.0.8, kubectl) observes of claims and
 * Sandboxes (issue #18), against the real API server with the controller in-process and kwok
 * making Pods Running and Ready on a fake node. Every object is written as v1beta1, as upstream
 * users write them: a claim names its pool.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { Annotations, Labels, nameHash } from '@sandbank/api';
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
const ns = `ctrl-v1beta1-observed-${process.pid}`;
const paths = collectionPaths(ns);
const WAIT = { timeoutMs: 45_000 };
/** Several waits each: more than the project's 60 s per test. */
const SLOW = 150_000;
const EXT_API = `${EXT_V1BETA1.group}/${EXT_V1BETA1.version}`;

interface Observed extends Obj {
  status?: Obj['status'] & {
    podIPs?: string[];
    nodeName?: string;
    selector?: string;
    service?: string;
    serviceFQDN?: string;
    sandbox?: { name?: string; podIPs?: string[]; serviceFQDN?: string };
  };
}

type Condition = NonNullable<NonNullable<Obj['status']>['conditions']>[number];
const exists = (o: Obj | undefined): boolean => o !== undefined;
const conditionOf = (o: Observed | undefined, type: string): Condition | undefined =>
  o?.status?.conditions?.find((c) => c.type === type);
const reasonIs = (reason: string) => (o: Observed | undefined) => conditionOf(o, 'Ready')?.reason === reason;

let app: ControllerApp;

async function create(plural: string, kind: string, name: string, spec: object): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...EXT_V1BETA1,
    namespace: ns,
    plural,
    body: { apiVersion: EXT_API, kind, metadata: { name }, spec },
  });
}
const template = (name: string, spec: object) =>
  create('sandboxtemplates', 'SandboxTemplate', name, {
    podTemplate: {
      metadata: { labels: { app: 'observed' } },
      spec: { runtimeClassName: 'gvisor', containers: [{ name: 'agent', image: 'sandbank/runtime:1' }] },
    },
    ...spec,
  });
const warmPool = (name: string, templateName: string, replicas: number) =>
  create('sandboxwarmpools', 'SandboxWarmPool', name, {
    replicas,
    sandboxTemplateRef: { name: templateName },
  });
const claim = (name: string, pool: string, spec: object = {}) =>
  create('sandboxclaims', 'SandboxClaim', name, { warmPoolRef: { name: pool }, ...spec });
const readSandbox = async (name: string): Promise<Observed> =>
  (await custom.getNamespacedCustomObject({
    ...CORE_GROUP_V1BETA1,
    namespace: ns,
    plural: 'sandboxes',
    name,
  })) as Observed;

/** The claim's Ready is the Sandbox's, reason and message, at the claim's own generation. */
function expectForwarded(claimObj: Observed | undefined, sandbox: Observed): void {
  const own = conditionOf(claimObj, 'Ready');
  const theirs = conditionOf(sandbox, 'Ready');
  expect(own).toMatchObject({
    status: theirs?.status,
    reason: theirs?.reason,
    message: theirs?.message,
    observedGeneration: claimObj?.metadata.generation,
  });
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: ns } } });
  app = await startControllerInProcess(kc, { watchNamespace: ns });
  await template('observed', { volumeClaimTemplatesPolicy: 'Allowed' });
  await template('strict', {});
  await template('served', { service: true });
  await warmPool('observed-warm', 'observed', 1);
  await warmPool('observed-cold', 'observed', 0);
  await warmPool('strict-cold', 'strict', 0);
  await warmPool('served-cold', 'served', 0);
}, 60_000);

afterAll(async () => {
  await app.manager.stop();
  await core.deleteNamespace({ name: ns });
}, 60_000);

it(
  'binds warm with additionalPodMetadata and shows the Sandbox, its Pod and the forwarded Ready',
  async () => {
    await waitFor(kc, paths.pools, 'observed-warm', (o) => poolShortfall(o, 1) === undefined, {
      ...WAIT,
      description: 'pool 1/1 ready',
    });
    await claim('warm-meta', 'observed-warm', {
      additionalPodMetadata: { labels: { team: 'ml' }, annotations: { 'example.com/note': 'n' } },
    });
    const claimObj = await waitFor<Observed>(kc, paths.claims, 'warm-meta', isReady, {
      ...WAIT,
      description: 'claim Ready',
    });
    expect(claimObj?.status?.sandbox?.name).toBe('warm-meta');
    const sandbox = await readSandbox('warm-meta');
    expectForwarded(claimObj, sandbox);
    expect(conditionOf(claimObj, 'Ready')?.reason).toBe('DependenciesReady');
    // A warm bind: the Pod keeps the pool member's name, which the annotation gives.
    const podName = sandbox.metadata.annotations?.[Annotations.podName] ?? '';
    expect(podName).toMatch(/^observed-warm-/);
    expect(sandbox.metadata.labels).toMatchObject({ 'agents.x-k8s.io/launch-type': 'warm' });
    expect(sandbox.status?.podIPs?.length).toBeGreaterThan(0);
    expect(claimObj?.status?.sandbox?.podIPs).toEqual(sandbox.status?.podIPs);
    expect(sandbox.status?.nodeName).toBeTruthy();
    expect(sandbox.status?.selector).toBe(`${Labels.sandboxNameHash}=${nameHash('warm-meta')}`);
    // The Pod's PodScheduled condition, copied onto the Sandbox as upstream's controller does.
    await waitFor<Observed>(
      kc,
      paths.sandboxes,
      'warm-meta',
      (o) => conditionOf(o, 'PodScheduled')?.status === 'True',
      { ...WAIT, description: 'Sandbox PodScheduled=True copied from its Pod' },
    );
    const pod = await core.readNamespacedPod({ namespace: ns, name: podName });
    expect(pod.metadata?.labels).toMatchObject({
      team: 'ml',
      [Labels.sandboxNameHash]: nameHash('warm-meta'),
    });
    expect(pod.metadata?.annotations).toMatchObject({ 'example.com/note': 'n' });
    // What status.selector says selects exactly that Pod.
    const selected = await core.listNamespacedPod({
      namespace: ns,
      labelSelector: sandbox.status?.selector ?? '',
    });
    expect(selected.items.map((p) => p.metadata?.name)).toEqual([podName]);
  },
  SLOW,
);

it(
  'forwards a failed Pod to the claim as PodFailed, with Finished mirrored',
  async () => {
    await claim('fails', 'observed-cold');
    await waitFor<Observed>(kc, paths.claims, 'fails', isReady, { ...WAIT, description: 'cold claim Ready' });
    const sandbox = await readSandbox('fails');
    expect(sandbox.metadata.annotations ?? {}).not.toHaveProperty([Annotations.podName]);
    await core.patchNamespacedPodStatus({
      namespace: ns,
      name: 'fails',
      body: [
        { op: 'replace', path: '/status/phase', value: 'Failed' },
        { op: 'add', path: '/status/reason', value: 'Evicted' },
        { op: 'add', path: '/status/message', value: 'test: node pressure' },
      ],
    });
    const failed = await waitFor<Observed>(kc, paths.claims, 'fails', reasonIs('PodFailed'), {
      ...WAIT,
      description: 'claim PodFailed',
    });
    expect(conditionOf(failed, 'Ready')?.status).toBe('False');
    expect(conditionOf(failed, 'Ready')?.message).toContain('Evicted');
    expectForwarded(failed, await readSandbox('fails'));
    await waitFor<Observed>(kc, paths.claims, 'fails', (o) => conditionOf(o, 'Finished')?.status === 'True', {
      ...WAIT,
      description: 'Finished mirrored',
    });
  },
  SLOW,
);

it(
  "answers a claim's volumeClaimTemplates by the template's policy",
  async () => {
    const scratch = {
      metadata: { name: 'scratch' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    };
    await claim('vct-refused', 'strict-cold', { volumeClaimTemplates: [scratch] });
    const refused = await waitFor<Observed>(
      kc,
      paths.claims,
      'vct-refused',
      reasonIs('VolumeClaimTemplatesError'),
      {
        ...WAIT,
        description: 'VolumeClaimTemplatesError',
      },
    );
    expect(conditionOf(refused, 'Ready')?.message).toContain('volumeClaimTemplatesPolicy: Disallowed');
    await expect(readSandbox('vct-refused')).rejects.toMatchObject({ code: 404 });

    // Allowed, on a pool that has a ready member: the claim still starts cold, with its volume.
    await waitFor(kc, paths.pools, 'observed-warm', (o) => poolShortfall(o, 1) === undefined, {
      ...WAIT,
      description: 'pool 1/1 ready',
    });
    await claim('vct-allowed', 'observed-warm', { volumeClaimTemplates: [scratch] });
    const pvc = await waitFor(
      kc,
      `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      'scratch-vct-allowed',
      exists,
      {
        ...WAIT,
        description: 'the claim volume',
      },
    );
    expect(pvc?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Sandbox', name: 'vct-allowed' });
    const sandbox = await readSandbox('vct-allowed');
    expect(sandbox.metadata.labels).toMatchObject({ 'agents.x-k8s.io/launch-type': 'cold' });
    expect(sandbox.metadata.annotations ?? {}).not.toHaveProperty([Annotations.podName]);
    const pod = await waitFor(kc, paths.pods, 'vct-allowed', exists, { ...WAIT, description: 'cold pod' });
    expect(pod?.spec?.['volumes']).toContainEqual({
      name: 'scratch',
      persistentVolumeClaim: { claimName: 'scratch-vct-allowed' },
    });
  },
  SLOW,
);

it(
  "shows the Sandbox's Service on the Sandbox and the claim",
  async () => {
    await claim('served', 'served-cold');
    const claimObj = await waitFor<Observed>(kc, paths.claims, 'served', isReady, {
      ...WAIT,
      description: 'claim Ready',
    });
    const fqdn = `served.${ns}.svc.cluster.local`;
    const sandbox = await readSandbox('served');
    expect(sandbox.status).toMatchObject({ service: 'served', serviceFQDN: fqdn });
    expect(claimObj?.status?.sandbox).toMatchObject({ name: 'served', serviceFQDN: fqdn });
    expectForwarded(claimObj, sandbox);
  },
  SLOW,
);

it(
  'serves a claim applied before its pool and template once they exist (kubectl apply of a directory)',
  async () => {
    await claim('early', 'late-pool');
    await waitFor<Observed>(kc, paths.claims, 'early', reasonIs('WarmPoolNotFound'), {
      ...WAIT,
      description: 'WarmPoolNotFound',
    });
    await warmPool('late-pool', 'late', 0);
    await waitFor<Observed>(kc, paths.claims, 'early', reasonIs('TemplateNotFound'), {
      ...WAIT,
      description: 'TemplateNotFound once the pool exists',
    });
    await template('late', {});
    const ready = await waitFor<Observed>(kc, paths.claims, 'early', isReady, {
      ...WAIT,
      description: 'Ready once the template exists',
    });
    expect(ready?.status?.sandbox?.name).toBe('early');
  },
  SLOW,
);
