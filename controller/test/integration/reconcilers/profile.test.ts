/**
 * The sandbox profile enforced by the controller itself, against the real API server (no
 * admission policy here: this is the cluster that lacks it). A rejected template gets no pod:
 * its pool stays empty with a TemplateRejected event, its claims and a Sandbox made directly
 * report Ready=False with reason TemplateRejected naming the field. A relaxation label on the
 * namespace takes effect at once, and so does taking it back.
 */
import { CoreV1Api, CustomObjectsApi, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ProfileLabels } from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import { CORE_GROUP, EXT, collectionPaths, compliantPodSpec, waitFor, type Obj } from '@sandbank/testing';
import type { ControllerApp } from '../../../src/app.js';
import { startControllerInProcess } from '../support.js';

const kc: KubeConfig = integrationKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const eventsApi = kc.makeApiClient(EventsV1Api);
const ns = `ctrl-profile-${process.pid}-${Date.now().toString(36)}`;
const paths = collectionPaths(ns);
const WAIT = { timeoutMs: 60_000 };
const PRIVILEGED =
  'spec.podTemplate.spec.containers[0].securityContext.privileged: privileged containers are not allowed';

let app: ControllerApp;

const readyOf = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');

function templateBody(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: `${EXT.group}/${EXT.version}`,
    kind: 'SandboxTemplate',
    metadata: { name },
    spec: { podTemplate: { spec } },
  };
}

async function create(plural: string, body: Record<string, unknown>): Promise<void> {
  const group = plural === 'sandboxes' ? CORE_GROUP : EXT;
  await custom.createNamespacedCustomObject({ ...group, namespace: ns, plural, body });
}

async function createPool(name: string, template: string, replicas: number): Promise<void> {
  await create('sandboxwarmpools', {
    apiVersion: `${EXT.group}/${EXT.version}`,
    kind: 'SandboxWarmPool',
    metadata: { name },
    spec: { replicas, sandboxTemplateRef: { name: template } },
  });
}

async function podsOf(labelSelector?: string): Promise<Obj[]> {
  return (await core.listNamespacedPod({ namespace: ns, ...(labelSelector ? { labelSelector } : {}) }))
    .items as unknown as Obj[];
}

/** Polls (bounded) until `check` returns undefined; its last complaint is the failure. */
async function eventually(what: string, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + WAIT.timeoutMs;
  for (;;) {
    const problem = await check();
    if (problem === undefined) return;
    if (Date.now() > deadline) throw new Error(`${what}: ${problem}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function rejectedEvent(kind: string, name: string): Promise<string | undefined> {
  const list = await eventsApi.listNamespacedEvent({ namespace: ns });
  return list.items.find(
    (e) => e.reason === 'TemplateRejected' && e.regarding?.kind === kind && e.regarding.name === name,
  )?.note;
}

/** Sets (or, with null, removes) one label on the namespace: what only a cluster admin may do. */
async function labelNamespace(key: string, value: string | null): Promise<void> {
  // Every namespace has labels (kubernetes.io/metadata.name), so the map exists.
  const path = `/metadata/labels/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  await core.patchNamespace({
    name: ns,
    body: [value === null ? { op: 'remove', path } : { op: 'add', path, value }],
  });
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: ns } } });
  app = await startControllerInProcess(kc, { watchNamespace: ns });
}, 60_000);

afterAll(async () => {
  await app.manager.stop();
  await core.deleteNamespace({ name: ns });
}, 60_000);

it('makes the pods of a compliant template with the profile filled in', async () => {
  await create('sandboxtemplates', templateBody('plain', compliantPodSpec()));
  await createPool('plain', 'plain', 1);
  await eventually('a pod of the compliant template', async () =>
    (await podsOf()).some((p) => p.metadata.generateName === 'plain-') ? undefined : 'none yet',
  );
  const [pod] = (await podsOf()).filter((p) => p.metadata.generateName === 'plain-');
  expect(pod?.spec).toMatchObject({
    runtimeClassName: 'gvisor',
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      expect.objectContaining({
        securityContext: expect.objectContaining({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        }) as unknown,
        volumeMounts: expect.arrayContaining([
          expect.objectContaining({ mountPath: '/workspace' }),
          expect.objectContaining({ mountPath: '/tmp' }),
        ]) as unknown,
      }),
    ],
  });
});

it('gives a rejected template no pod: TemplateRejected on the template, the pool and the claim', async () => {
  await create(
    'sandboxtemplates',
    templateBody('privileged', {
      containers: [
        { name: 'agent', image: 'ghcr.io/sandbank/runtime:0.1.0', securityContext: { privileged: true } },
      ],
    }),
  );
  await createPool('privileged', 'privileged', 2);
  await create('sandboxclaims', {
    apiVersion: `${EXT.group}/${EXT.version}`,
    kind: 'SandboxClaim',
    metadata: { name: 'c1' },
    spec: { sandboxTemplateRef: { name: 'privileged' } },
  });

  const claim = await waitFor(kc, paths.claims, 'c1', (o) => readyOf(o)?.reason === 'TemplateRejected', {
    ...WAIT,
    description: 'claim c1 TemplateRejected',
  });
  expect(readyOf(claim)).toMatchObject({ status: 'False' });
  expect(readyOf(claim)?.message).toContain(PRIVILEGED);
  await eventually('TemplateRejected events on the template and the pool', async () => {
    const template = await rejectedEvent('SandboxTemplate', 'privileged');
    const pool = await rejectedEvent('SandboxWarmPool', 'privileged');
    return template?.includes(PRIVILEGED) && pool?.includes(PRIVILEGED)
      ? undefined
      : `${String(template)} / ${String(pool)}`;
  });
  // The claim made no Sandbox, and nothing made a pod of the template.
  expect(await waitFor(kc, paths.sandboxes, 'c1', () => true)).toBeUndefined();
  expect((await podsOf()).filter((p) => p.metadata.generateName === 'privileged-')).toEqual([]);
});

it('gives a Sandbox made directly no pod when its pod template breaks the profile', async () => {
  await create('sandboxes', {
    apiVersion: `${CORE_GROUP.group}/${CORE_GROUP.version}`,
    kind: 'Sandbox',
    metadata: { name: 'direct' },
    spec: { podTemplate: { spec: { ...compliantPodSpec(), hostNetwork: true } } },
  });
  const sandbox = await waitFor(
    kc,
    paths.sandboxes,
    'direct',
    (o) => readyOf(o)?.reason === 'TemplateRejected',
    { ...WAIT, description: 'Sandbox direct TemplateRejected' },
  );
  expect(readyOf(sandbox)?.message).toContain(
    'spec.podTemplate.spec.hostNetwork: host networking is not allowed',
  );
  expect(await waitFor(kc, paths.pods, 'direct', () => true)).toBeUndefined();
});

it('applies a namespace relaxation at once, and its withdrawal', async () => {
  await create(
    'sandboxtemplates',
    templateBody('rooted', { ...compliantPodSpec(), securityContext: { runAsNonRoot: false, runAsUser: 0 } }),
  );
  await createPool('rooted', 'rooted', 1);
  await eventually('the pool of the rooted template rejected', async () =>
    (await rejectedEvent('SandboxWarmPool', 'rooted')) ? undefined : 'no event yet',
  );
  expect((await podsOf()).filter((p) => p.metadata.generateName === 'rooted-')).toEqual([]);

  await labelNamespace(ProfileLabels.allowRoot, 'true');
  await eventually('a rooted pod once the namespace allows root', async () =>
    (await podsOf()).some((p) => p.metadata.generateName === 'rooted-' && !p.metadata.deletionTimestamp)
      ? undefined
      : 'none yet',
  );

  await labelNamespace(ProfileLabels.allowRoot, null);
  await eventually('the rooted pod gone once the label is', async () => {
    const left = (await podsOf()).filter(
      (p) => p.metadata.generateName === 'rooted-' && !p.metadata.deletionTimestamp,
    );
    return left.length === 0 ? undefined : `${left.length} left`;
  });
});
