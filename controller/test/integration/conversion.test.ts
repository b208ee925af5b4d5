/**
 * Both API versions on the real kube-apiserver, through this run's conversion webhook (the
 * integration setup starts it and points the CRDs at it): every spec field of every kind written
 * as v1alpha1, read as v1beta1, written back as v1beta1 and read as v1alpha1 comes back equal,
 * and the reverse; v1alpha1 LIST and WATCH see v1beta1-written objects; a claim created in one
 * version is bound by the controller (which reads and writes only v1beta1) and read in the other.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import { clusterBinary, integrationKubeConfig } from '@sandbank/e2e';
import { gkeGuideFile, isReady, waitFor, type Obj } from '@sandbank/testing';
import type { ControllerApp } from '../../src/app.js';
import { startControllerInProcess } from './support.js';

type Json = Record<string, unknown>;

const kc: KubeConfig = integrationKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const suffix = `${process.pid}-${randomBytes(2).toString('hex')}`;
/** Objects no controller acts on: only the API server and the webhook touch them. */
const inert = `conv-rt-${suffix}`;
/** Where the in-process controller binds claims. */
const live = `conv-live-${suffix}`;

const GROUPS: Record<string, string> = {
  Sandbox: 'agents.x-k8s.io',
  SandboxTemplate: 'extensions.agents.x-k8s.io',
  SandboxWarmPool: 'extensions.agents.x-k8s.io',
  SandboxClaim: 'extensions.agents.x-k8s.io',
};
const PLURALS: Record<string, string> = {
  Sandbox: 'sandboxes',
  SandboxTemplate: 'sandboxtemplates',
  SandboxWarmPool: 'sandboxwarmpools',
  SandboxClaim: 'sandboxclaims',
};
type Version = 'v1alpha1' | 'v1beta1';

const groupOf = (kind: string): string => GROUPS[kind] ?? '';
const where = (kind: string, version: Version, namespace: string) => ({
  group: groupOf(kind),
  version,
  plural: PLURALS[kind] ?? '',
  namespace,
});

async function create(namespace: string, version: Version, object: Json): Promise<Json> {
  const kind = String(object['kind']);
  return (await custom.createNamespacedCustomObject({
    ...where(kind, version, namespace),
    body: { ...object, apiVersion: `${groupOf(kind)}/${version}` },
    fieldValidation: 'Strict',
  })) as Json;
}

async function read(namespace: string, version: Version, kind: string, name: string): Promise<Json> {
  return (await custom.getNamespacedCustomObject({ ...where(kind, version, namespace), name })) as Json;
}

async function replace(namespace: string, version: Version, object: Json): Promise<Json> {
  const kind = String(object['kind']);
  const name = String((object['metadata'] as Json)['name']);
  return (await custom.replaceNamespacedCustomObject({
    ...where(kind, version, namespace),
    name,
    body: object,
    fieldValidation: 'Strict',
  })) as Json;
}

/** What a round trip must keep: the spec and the annotations (ours travel in them). */
const kept = (o: Json) => ({
  apiVersion: o['apiVersion'],
  spec: o['spec'],
  annotations: (o['metadata'] as Json)['annotations'],
  labels: (o['metadata'] as Json)['labels'],
});

const podTemplate = {
  metadata: { labels: { app: 'rt' }, annotations: { note: 'kept' } },
  spec: {
    runtimeClassName: 'gvisor',
    containers: [
      {
        name: 'main',
        image: 'busybox',
        command: ['sleep', '3600'],
        env: [{ name: 'A', value: '1' }],
        ports: [{ containerPort: 8888 }],
      },
    ],
  },
};
const volumeClaimTemplates = [
  {
    metadata: { name: 'data', labels: { tier: 'disk' } },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  },
];
const meta = (name: string): Json => ({
  name,
  labels: { case: name },
  annotations: { 'user.example/n': name },
});
const lifecycle = {
  shutdownTime: '2031-01-01T00:00:00Z',
  shutdownPolicy: 'DeleteForeground',
  ttlSecondsAfterFinished: 30,
};
const additionalPodMetadata = { labels: { 'sandbox.users.io/team': 'ml' }, annotations: { why: 'test' } };
const env = [{ name: 'MODE', value: 'x', containerName: 'main' }];

/** v1alpha1 objects with every v1alpha1 spec field set (several claims: one per warmpool shape). */
const ALPHA: readonly Json[] = [
  {
    kind: 'Sandbox',
    metadata: meta('a-sandbox-running'),
    spec: {
      podTemplate,
      volumeClaimTemplates,
      replicas: 1,
      shutdownTime: '2031-01-01T00:00:00Z',
      shutdownPolicy: 'Delete',
      service: true,
    },
  },
  {
    kind: 'Sandbox',
    metadata: meta('a-sandbox-suspended'),
    spec: { podTemplate, replicas: 0, service: false },
  },
  {
    kind: 'SandboxTemplate',
    metadata: meta('a-template'),
    spec: {
      podTemplate,
      volumeClaimTemplates,
      service: true,
      networkPolicy: {
        ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ port: 53, protocol: 'UDP' }] }],
      },
      networkPolicyManagement: 'Unmanaged',
      envVarsInjectionPolicy: 'Overrides',
    },
  },
  {
    kind: 'SandboxWarmPool',
    metadata: meta('a-pool'),
    spec: { replicas: 3, sandboxTemplateRef: { name: 'a-template' }, updateStrategy: { type: 'Recreate' } },
  },
  {
    kind: 'SandboxClaim',
    metadata: meta('a-claim-default'),
    spec: {
      sandboxTemplateRef: { name: 'a-template' },
      warmpool: 'default',
      lifecycle,
      additionalPodMetadata,
      env,
    },
  },
  {
    kind: 'SandboxClaim',
    metadata: meta('a-claim-none'),
    spec: { sandboxTemplateRef: { name: 'a-template' }, warmpool: 'none' },
  },
  {
    kind: 'SandboxClaim',
    metadata: meta('a-claim-pool'),
    spec: {
      sandboxTemplateRef: { name: 'a-template' },
      warmpool: 'a-pool',
      lifecycle: { shutdownPolicy: 'Retain' },
    },
  },
];

/** v1beta1 objects with every v1beta1 spec field set. */
const BETA: readonly Json[] = [
  {
    kind: 'Sandbox',
    metadata: meta('b-sandbox-suspended'),
    spec: {
      podTemplate,
      volumeClaimTemplates,
      operatingMode: 'Suspended',
      shutdownTime: '2031-01-01T00:00:00Z',
      shutdownPolicy: 'Retain',
      service: true,
    },
  },
  { kind: 'Sandbox', metadata: meta('b-sandbox-running'), spec: { podTemplate, operatingMode: 'Running' } },
  {
    kind: 'SandboxTemplate',
    metadata: meta('b-template'),
    spec: {
      podTemplate,
      volumeClaimTemplates,
      service: false,
      networkPolicy: { ingress: [], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }] },
      networkPolicyManagement: 'Managed',
      envVarsInjectionPolicy: 'Allowed',
      volumeClaimTemplatesPolicy: 'Overrides',
    },
  },
  {
    kind: 'SandboxWarmPool',
    metadata: meta('b-pool-default-replicas'),
    spec: { sandboxTemplateRef: { name: 'b-template' } },
  },
  {
    kind: 'SandboxWarmPool',
    metadata: meta('b-pool'),
    spec: {
      replicas: 0,
      sandboxTemplateRef: { name: 'b-template' },
      updateStrategy: { type: 'OnReplenish' },
    },
  },
  {
    kind: 'SandboxClaim',
    metadata: meta('b-claim'),
    spec: { warmPoolRef: { name: 'b-pool' }, lifecycle, additionalPodMetadata, env, volumeClaimTemplates },
  },
];

beforeAll(async () => {
  for (const name of [inert, live]) await core.createNamespace({ body: { metadata: { name } } });
}, 30_000);

afterAll(async () => {
  for (const name of [inert, live]) await core.deleteNamespace({ name }).catch(() => undefined);
}, 30_000);

describe('round trips on the API server', () => {
  it.each(ALPHA.map((o) => [`${String(o['kind'])} ${String((o['metadata'] as Json)['name'])}`, o] as const))(
    'v1alpha1 %s → v1beta1 → written back as v1beta1 → v1alpha1 is unchanged',
    async (_name, object) => {
      const name = String((object['metadata'] as Json)['name']);
      const kind = String(object['kind']);
      const created = await create(inert, 'v1alpha1', object);
      const beta = await read(inert, 'v1beta1', kind, name);
      expect(beta['apiVersion']).toBe(`${groupOf(kind)}/v1beta1`);
      await replace(inert, 'v1beta1', beta);
      const back = await read(inert, 'v1alpha1', kind, name);
      expect(kept(back)).toEqual(kept(created));
    },
  );

  it.each(BETA.map((o) => [`${String(o['kind'])} ${String((o['metadata'] as Json)['name'])}`, o] as const))(
    'v1beta1 %s → v1alpha1 → written back as v1alpha1 → v1beta1 is unchanged',
    async (_name, object) => {
      const name = String((object['metadata'] as Json)['name']);
      const kind = String(object['kind']);
      const created = await create(inert, 'v1beta1', object);
      const alpha = await read(inert, 'v1alpha1', kind, name);
      expect(alpha['apiVersion']).toBe(`${groupOf(kind)}/v1alpha1`);
      await replace(inert, 'v1alpha1', alpha);
      const back = await read(inert, 'v1beta1', kind, name);
      expect(kept(back)).toEqual(kept(created));
    },
  );

  it('maps the fields each version names differently', async () => {
    const suspended = await read(inert, 'v1beta1', 'Sandbox', 'a-sandbox-suspended');
    expect(suspended['spec']).toMatchObject({ operatingMode: 'Suspended' });
    expect(suspended['spec']).not.toHaveProperty('replicas');
    expect((await read(inert, 'v1alpha1', 'Sandbox', 'b-sandbox-running'))['spec']).toMatchObject({
      replicas: 1,
    });
    expect((await read(inert, 'v1beta1', 'SandboxClaim', 'a-claim-pool'))['spec']).toMatchObject({
      warmPoolRef: { name: 'a-pool' },
    });
  });

  it('keeps a pool named like a v1alpha1 policy word out of warmpool (it would mean another thing)', async () => {
    // `warmpool: none` would ask for a cold start: the pool travels in the annotation instead,
    // and the claim stays what it is for the controller (v1alpha1 clients may read it; with no
    // template to name, their writes are refused, naming the field).
    await create(inert, 'v1beta1', {
      kind: 'SandboxClaim',
      metadata: meta('b-claim-pool-named-none'),
      spec: { warmPoolRef: { name: 'none' } },
    });
    const alpha = await read(inert, 'v1alpha1', 'SandboxClaim', 'b-claim-pool-named-none');
    expect(alpha['spec']).not.toHaveProperty('warmpool');
    const annotations = (alpha['metadata'] as Json)['annotations'] as Record<string, string>;
    expect(JSON.parse(annotations['conversion.sandbank.dev/v1beta1'] ?? '{}')).toEqual({
      warmPoolRef: { name: 'none' },
    });
    const refused = await replace(inert, 'v1alpha1', alpha).then(
      () => '',
      (err: unknown) => String((err as { body?: unknown }).body),
    );
    expect(refused).toContain('spec.sandboxTemplateRef');
    expect((await read(inert, 'v1beta1', 'SandboxClaim', 'b-claim-pool-named-none'))['spec']).toEqual({
      warmPoolRef: { name: 'none' },
    });
  });
});

describe('v1alpha1 lists and watches of v1beta1-written objects', () => {
  const listNs = inert;
  const template = (name: string): Json => ({
    kind: 'SandboxTemplate',
    metadata: { name, labels: { list: 'yes' } },
    spec: { podTemplate, volumeClaimTemplatesPolicy: 'Allowed' },
  });

  it('lists them as v1alpha1, with the v1beta1-only field kept in its annotation', async () => {
    await create(listNs, 'v1beta1', template('listed-1'));
    await create(listNs, 'v1beta1', template('listed-2'));
    const list = (await custom.listNamespacedCustomObject({
      ...where('SandboxTemplate', 'v1alpha1', listNs),
      labelSelector: 'list=yes',
    })) as { apiVersion: string; items: Json[] };
    expect(list.items.map((o) => (o['metadata'] as Json)['name']).sort()).toEqual(['listed-1', 'listed-2']);
    for (const item of list.items) {
      expect(item['apiVersion']).toBe('extensions.agents.x-k8s.io/v1alpha1');
      expect(item['spec']).not.toHaveProperty('volumeClaimTemplatesPolicy');
      expect(Object.keys(((item['metadata'] as Json)['annotations'] as Json | undefined) ?? {})).toContain(
        'conversion.sandbank.dev/v1beta1',
      );
    }
  });

  it('watches them as v1alpha1', async () => {
    const list = (await custom.listNamespacedCustomObject({
      ...where('SandboxTemplate', 'v1alpha1', listNs),
    })) as { metadata: { resourceVersion: string } };
    const seen: Json[] = [];
    let stop: (() => void) | undefined;
    const added = new Promise<void>((resolve, reject) => {
      void new Watch(kc)
        .watch(
          `/apis/extensions.agents.x-k8s.io/v1alpha1/namespaces/${listNs}/sandboxtemplates`,
          { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: false },
          (type: string, obj: Json) => {
            seen.push({ type, obj });
            if (type === 'ADDED' && (obj['metadata'] as Json)['name'] === 'watched') resolve();
          },
          (err: unknown) => {
            if (err) reject(err instanceof Error ? err : new Error(JSON.stringify(err)));
          },
        )
        .then((req: { abort(): void }) => {
          stop = () => req.abort();
        }, reject);
    });
    try {
      // Created once the watch is open: its ADDED event is converted on the way out.
      await new Promise((r) => setTimeout(r, 0));
      await create(listNs, 'v1beta1', template('watched'));
      await added;
    } finally {
      stop?.();
    }
    const event = seen.find((e) => ((e['obj'] as Json)['metadata'] as Json)['name'] === 'watched');
    expect((event?.['obj'] as Json)['apiVersion']).toBe('extensions.agents.x-k8s.io/v1alpha1');
  });
});

describe('a claim in one version, bound by the controller, read in the other', () => {
  let app: ControllerApp;

  beforeAll(async () => {
    app = await startControllerInProcess(kc, { watchNamespace: live });
    // The GKE guide's template and pool (v1alpha1), unchanged but for the namespace.
    const guide = readFileSync(gkeGuideFile, 'utf8').replaceAll('namespace: default', `namespace: ${live}`);
    execFileSync(
      clusterBinary('kubectl'),
      [`--kubeconfig=${process.env['SANDBANK_KUBECONFIG'] ?? ''}`, 'apply', '-f', '-'],
      { encoding: 'utf8', input: guide },
    );
    await create(live, 'v1beta1', {
      kind: 'SandboxWarmPool',
      metadata: { name: 'cold' },
      spec: { replicas: 0, sandboxTemplateRef: { name: 'python-runtime-template' } },
    });
  }, 60_000);

  afterAll(async () => {
    await app.manager.stop();
  }, 30_000);

  const paths = (version: Version) => ({
    claims: `/apis/extensions.agents.x-k8s.io/${version}/namespaces/${live}/sandboxclaims`,
  });
  const sandboxOf = (o: Obj | undefined) => o?.status?.sandbox?.name;

  it('the GKE guide YAML applied as v1alpha1 reads as v1beta1', async () => {
    const pool = await read(live, 'v1beta1', 'SandboxWarmPool', 'python-sandbox-warmpool');
    expect(pool['spec']).toMatchObject({
      replicas: 2,
      sandboxTemplateRef: { name: 'python-runtime-template' },
    });
    const template = await read(live, 'v1beta1', 'SandboxTemplate', 'python-runtime-template');
    expect(template['spec']).toMatchObject({ volumeClaimTemplatesPolicy: 'Disallowed' });
  });

  it('binds a v1alpha1 claim of a template; v1beta1 reads show its sandbox, Ready', async () => {
    await create(live, 'v1alpha1', {
      kind: 'SandboxClaim',
      metadata: { name: 'alpha-claim' },
      spec: { sandboxTemplateRef: { name: 'python-runtime-template' } },
    });
    const beta = await waitFor(
      kc,
      paths('v1beta1').claims,
      'alpha-claim',
      (o) => isReady(o) && !!sandboxOf(o),
      {
        description: 'v1alpha1 claim Ready, read as v1beta1',
      },
    );
    expect(beta?.apiVersion).toBe('extensions.agents.x-k8s.io/v1beta1');
    expect(sandboxOf(beta)).toBe('alpha-claim');
    const sandbox = await read(live, 'v1beta1', 'Sandbox', 'alpha-claim');
    expect(sandbox['spec']).toMatchObject({ operatingMode: 'Running' });
  });

  it('binds a v1beta1 claim of a pool; v1alpha1 reads show its sandbox, Ready, and the pool as warmpool', async () => {
    await create(live, 'v1beta1', {
      kind: 'SandboxClaim',
      metadata: { name: 'beta-claim' },
      spec: { warmPoolRef: { name: 'python-sandbox-warmpool' } },
    });
    const alpha = await waitFor(
      kc,
      paths('v1alpha1').claims,
      'beta-claim',
      (o) => isReady(o) && !!sandboxOf(o),
      {
        description: 'v1beta1 claim Ready, read as v1alpha1',
      },
    );
    expect(alpha?.apiVersion).toBe('extensions.agents.x-k8s.io/v1alpha1');
    expect(sandboxOf(alpha)).toBe('beta-claim');
    expect(alpha?.spec).toMatchObject({ warmpool: 'python-sandbox-warmpool' });
    // A v1alpha1 client sees the Sandbox too, with replicas for its scale subresource.
    expect((await read(live, 'v1alpha1', 'Sandbox', 'beta-claim'))['spec']).toMatchObject({ replicas: 1 });
  });

  it('cold-starts a v1beta1 claim of a replicas 0 pool', async () => {
    await create(live, 'v1beta1', {
      kind: 'SandboxClaim',
      metadata: { name: 'cold-claim' },
      spec: { warmPoolRef: { name: 'cold' } },
    });
    const claim = await waitFor(kc, paths('v1beta1').claims, 'cold-claim', isReady, {
      description: 'cold claim Ready',
    });
    expect(sandboxOf(claim)).toBe('cold-claim');
    const sandbox = await read(live, 'v1beta1', 'Sandbox', 'cold-claim');
    expect((sandbox['metadata'] as Json)['labels']).toMatchObject({ 'sandbank.dev/launch-type': 'cold' });
  });
});
