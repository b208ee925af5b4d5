/**
 * The controller in-process against the real API server + etcd + kube-controller-manager (GC),
 * with kwok making Pods Running and Ready on a fake node: pool fill and refill, warm bind, cold
 * start, typed failures, template roll-out, lifecycle, suspend, and the GC cascade on delete.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { Annotations, Labels, nameHash } from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import {
  EXT,
  collectionPaths,
  gkeGuideObjects,
  isReady,
  poolShortfall,
  waitFor,
  type Obj,
} from '@sandbank/testing';
import type { ControllerApp } from '../../../src/app.js';
import { createLogger } from '../../../src/observability/logger.js';
import { startControllerInProcess } from '../support.js';

const kc: KubeConfig = integrationKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const ns = `ctrl-journey-${process.pid}`;
const paths = collectionPaths(ns);
const readyCondition = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');
const reason = (o: Obj | undefined) => readyCondition(o)?.reason;

let app: ControllerApp;

const guide = gkeGuideObjects() as { kind: string; metadata: Record<string, unknown> }[];

async function createCustom(plural: string, body: Record<string, unknown>): Promise<unknown> {
  return custom.createNamespacedCustomObject({ ...EXT, namespace: ns, plural, body });
}
async function claim(name: string, spec: Record<string, unknown>): Promise<unknown> {
  return createCustom('sandboxclaims', {
    apiVersion: 'extensions.agents.x-k8s.io/v1alpha1',
    kind: 'SandboxClaim',
    metadata: { name },
    spec,
  });
}
async function listPods(): Promise<Obj[]> {
  return (await core.listNamespacedPod({ namespace: ns })).items as unknown as Obj[];
}
const poolReady = (n: number) => (o: Obj | undefined) => poolShortfall(o, n) === undefined;

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: ns } } });
  app = await startControllerInProcess(kc, { watchNamespace: ns, log: createLogger({ level: 'info' }) });
  // The GKE guide's YAML, unchanged but for the namespace.
  for (const doc of guide) {
    const plural = doc.kind === 'SandboxTemplate' ? 'sandboxtemplates' : 'sandboxwarmpools';
    await createCustom(plural, { ...doc, metadata: { ...doc.metadata, namespace: ns } });
  }
}, 60_000);

afterAll(async () => {
  await app.manager.stop();
  await core.deleteNamespace({ name: ns });
}, 60_000);

it('fills the pool with Ready warm pods of the template', async () => {
  await waitFor(kc, paths.pools, 'python-sandbox-warmpool', poolReady(2), {
    description: 'pool 2/2 ready',
  });
  const pods = await listPods();
  expect(pods).toHaveLength(2);
  for (const pod of pods) {
    expect(pod.metadata.labels).toMatchObject({
      [Labels.pool]: nameHash('python-sandbox-warmpool'),
      [Labels.sandboxTemplateRefHash]: nameHash('python-runtime-template'),
      sandbox: 'python-sandbox-example',
    });
    expect(pod.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'SandboxWarmPool', controller: true });
    expect(pod.spec).toMatchObject({ runtimeClassName: 'gvisor', automountServiceAccountToken: false });
  }
});

it('binds a claim to a warm pod, names the Sandbox after the claim, and refills the pool', async () => {
  await waitFor(kc, paths.pools, 'python-sandbox-warmpool', poolReady(2));
  const warmNames = new Set((await listPods()).map((p) => p.metadata.name));
  await claim('warm-claim', { sandboxTemplateRef: { name: 'python-runtime-template' } });

  const sandbox = await waitFor(kc, paths.sandboxes, 'warm-claim', isReady, {
    description: 'sandbox Ready',
  });
  const podName = sandbox?.metadata.annotations?.[Annotations.podName] ?? '';
  expect(warmNames.has(podName)).toBe(true);
  const bound = await waitFor(
    kc,
    paths.pods,
    podName,
    (p) => p?.metadata.ownerReferences?.[0]?.kind === 'Sandbox',
    {
      description: 'bound pod adopted by its Sandbox',
    },
  );
  expect(bound?.metadata.labels).toMatchObject({ [Labels.sandboxNameHash]: nameHash('warm-claim') });
  expect(bound?.metadata.labels).not.toHaveProperty([Labels.pool]);
  const claimObj = await waitFor(kc, paths.claims, 'warm-claim', isReady);
  expect(claimObj?.status?.sandbox?.name).toBe('warm-claim');

  // The pool replaces the member it lost.
  await waitFor(kc, paths.pools, 'python-sandbox-warmpool', poolReady(2), {
    description: 'pool refilled',
  });
  expect((await listPods()).length).toBe(3);

  // Deleting the claim cascades through the garbage collector.
  await custom.deleteNamespacedCustomObject({
    ...EXT,
    namespace: ns,
    plural: 'sandboxclaims',
    name: 'warm-claim',
  });
  await waitFor(kc, paths.sandboxes, 'warm-claim', (o) => o === undefined, {
    description: 'sandbox gone',
  });
  await waitFor(kc, paths.pods, podName, (o) => o === undefined, { description: 'bound pod gone' });
});

it('cold-starts at once when no warm pod fits (env forces it)', async () => {
  await createCustom('sandboxtemplates', {
    apiVersion: 'extensions.agents.x-k8s.io/v1alpha1',
    kind: 'SandboxTemplate',
    metadata: { name: 'cold-template' },
    spec: {
      envVarsInjectionPolicy: 'Allowed',
      podTemplate: { spec: { containers: [{ name: 'main', image: 'runtime:1' }] } },
    },
  });
  await claim('cold-claim', {
    sandboxTemplateRef: { name: 'cold-template' },
    env: [{ name: 'MODE', value: 'cold' }],
  });
  const sandbox = await waitFor(kc, paths.sandboxes, 'cold-claim', isReady, {
    description: 'cold sandbox Ready',
  });
  expect(sandbox?.metadata.annotations ?? {}).not.toHaveProperty([Annotations.podName]);
  const pod = await waitFor(kc, paths.pods, 'cold-claim', (p) => p !== undefined);
  const containers = pod?.spec?.['containers'] as { env?: { name: string; value: string }[] }[];
  // The claim's env, beside the agent credential's digest every pod gets (agent-credentials.test.ts).
  expect(containers[0]?.env?.filter((e) => e.name !== 'SANDBANK_AGENT_TOKEN_SHA256')).toEqual([
    { name: 'MODE', value: 'cold' },
  ]);
  expect(pod?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Sandbox', controller: true });
  await waitFor(kc, paths.claims, 'cold-claim', isReady);
});

it('fails typed and terminal: TemplateNotFound, EnvVarsInjectionRejected, WarmPoolNotFound', async () => {
  await claim('no-template', { sandboxTemplateRef: { name: 'missing' } });
  await claim('env-refused', {
    sandboxTemplateRef: { name: 'python-runtime-template' },
    env: [{ name: 'A', value: 'b' }],
  });
  await claim('no-pool', { sandboxTemplateRef: { name: 'python-runtime-template' }, warmpool: 'nope' });
  for (const [name, expected] of [
    ['no-template', 'TemplateNotFound'],
    ['env-refused', 'EnvVarsInjectionRejected'],
    ['no-pool', 'WarmPoolNotFound'],
  ] as const) {
    const c = await waitFor(kc, paths.claims, name, (o) => reason(o) === expected, {
      description: `${name} ${expected}`,
    });
    expect(readyCondition(c)?.status).toBe('False');
  }
  expect(
    (await listPods()).some((p) => ['no-template', 'env-refused', 'no-pool'].includes(p.metadata.name)),
  ).toBe(false);
});

it('deletes a claim at its shutdownTime under policy Delete', async () => {
  // Whole seconds (the API's time format), far enough out that the claim is Ready well before
  // on a busy machine; the watch for Ready starts before the create, so it cannot miss it.
  const shutdownAt = Math.ceil((Date.now() + 8_000) / 1000) * 1000;
  const becameReady = waitFor(kc, paths.claims, 'short-lived', isReady, {
    description: 'short-lived Ready',
  });
  await claim('short-lived', {
    sandboxTemplateRef: { name: 'python-runtime-template' },
    lifecycle: { shutdownTime: new Date(shutdownAt).toISOString(), shutdownPolicy: 'Delete' },
  });
  await becameReady;
  await waitFor(kc, paths.claims, 'short-lived', (o) => o === undefined, {
    timeoutMs: 30_000,
    description: 'expired claim deleted',
  });
  // Deleted at its shutdownTime, not before.
  expect(Date.now()).toBeGreaterThanOrEqual(shutdownAt);
  await waitFor(kc, paths.sandboxes, 'short-lived', (o) => o === undefined, {
    description: 'its sandbox deleted',
  });
});

it('suspends a Sandbox with replicas 0 and keeps the object', async () => {
  await claim('to-suspend', { sandboxTemplateRef: { name: 'python-runtime-template' } });
  const sandbox = await waitFor(kc, paths.sandboxes, 'to-suspend', isReady);
  const podName = sandbox?.metadata.annotations?.[Annotations.podName] ?? 'to-suspend';
  await custom.patchNamespacedCustomObject({
    group: 'agents.x-k8s.io',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'sandboxes',
    name: 'to-suspend',
    body: [{ op: 'replace', path: '/spec/replicas', value: 0 }],
  });
  await waitFor(kc, paths.pods, podName, (o) => o === undefined, {
    description: 'suspended pod deleted',
  });
  const suspended = await waitFor(
    kc,
    paths.sandboxes,
    'to-suspend',
    (o) => o?.status?.conditions?.some((c) => c.type === 'Suspended' && c.status === 'True') ?? false,
  );
  expect(reason(suspended)).toBe('SandboxSuspended');
});

it('rolls the pool when the template changes (Recreate)', async () => {
  await custom.patchNamespacedCustomObject({
    ...EXT,
    namespace: ns,
    plural: 'sandboxwarmpools',
    name: 'python-sandbox-warmpool',
    body: [{ op: 'add', path: '/spec/updateStrategy', value: { type: 'Recreate' } }],
  });
  await waitFor(kc, paths.pools, 'python-sandbox-warmpool', poolReady(2));
  const before = new Set(
    (await listPods()).filter((p) => p.metadata.labels?.[Labels.pool]).map((p) => p.metadata.name),
  );
  await custom.patchNamespacedCustomObject({
    ...EXT,
    namespace: ns,
    plural: 'sandboxtemplates',
    name: 'python-runtime-template',
    body: [{ op: 'add', path: '/spec/podTemplate/metadata/labels/rev', value: '2' }],
  });
  await waitForPods((pods) => {
    const members = pods.filter((p) => p.metadata.labels?.[Labels.pool] && !p.metadata.deletionTimestamp);
    return (
      members.length === 2 &&
      members.every((p) => !before.has(p.metadata.name) && p.metadata.labels?.['rev'] === '2')
    );
  });
  await waitFor(kc, paths.pools, 'python-sandbox-warmpool', poolReady(2), {
    description: 'rolled pool ready',
  });
});

async function waitForPods(predicate: (pods: Obj[]) => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Pool membership spans several objects; a bounded re-list on each change is simplest here.
  while (!predicate(await listPods())) {
    if (Date.now() > deadline)
      throw new Error(
        `pods never matched: ${JSON.stringify((await listPods()).map((p) => [p.metadata.name, p.metadata.labels]))}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}
