/**
 * The v1beta1 schemas as the real kube-apiserver serves them: each kind's v1beta1-only CRD,
 * installed under a throwaway group (the shared control plane's CRDs stay as they are), accepts
 * objects as upstream v1.0 users and its SDK write them, applies the same defaults zod applies,
 * and refuses what zod refuses (v1alpha1-only fields, a bad operatingMode, an edit of a Sandbox's
 * volumeClaimTemplates).
 */
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatZodError, v1beta1, type CrdDefinition } from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import { kubernetesVersion, loadKubernetesDefinitions } from '../../scripts/crd/kubernetes-openapi-source.js';
import { renderCrd } from '../../scripts/crd/render.js';
import { createCrd, deleteCrds, inGroup, waitEstablished } from './crd-kubectl.js';

type Json = Record<string, unknown>;

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const definitions = loadKubernetesDefinitions(
  kubernetesVersion(join(repoRoot, 'e2e', 'cluster', 'versions.env')),
);
const kc = integrationKubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const core = kc.makeApiClient(CoreV1Api);
const namespace = `v1beta1-objects-${process.pid}`;
const testGroup = (group: string) => `b${process.pid}.${group}`;
const crdNames: string[] = [];

function defOf(kind: string): CrdDefinition {
  const def = v1beta1.crdDefinitions.find((d) => d.kind === kind);
  if (!def) throw new Error(`no v1beta1 ${kind}`);
  return def;
}

function target(object: Json) {
  const def = defOf(String(object.kind));
  return { group: testGroup(def.group), version: 'v1beta1', plural: def.plural, namespace };
}

/** Creates like `kubectl create` (strict field validation); returns what the server stored. */
async function create(object: Json): Promise<Json> {
  const t = target(object);
  const body = { ...object, apiVersion: `${t.group}/${t.version}` };
  return (await custom.createNamespacedCustomObject({ ...t, body, fieldValidation: 'Strict' })) as Json;
}

async function rejection(object: Json): Promise<string> {
  try {
    await create(object);
    return '';
  } catch (error) {
    return String((error as { body?: unknown }).body ?? error);
  }
}

/** The stored object as zod reads it (back under the real group). */
function parsed(stored: Json) {
  const def = defOf(String(stored.kind));
  const result = def.schema.safeParse({ ...stored, apiVersion: `${def.group}/${def.version}` });
  if (!result.success) throw new Error(formatZodError(result.error));
  return result.data as { spec: Json };
}

const podTemplate = { spec: { containers: [{ name: 'main', image: 'busybox' }] } };
const vcts = [
  {
    metadata: { name: 'work' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  },
];

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  for (const def of v1beta1.crdDefinitions) {
    const crd = inGroup(renderCrd(def, definitions), testGroup(def.group));
    createCrd(crd);
    crdNames.push(crd.metadata.name);
  }
  waitEstablished(crdNames);
}, 120_000);

afterAll(async () => {
  deleteCrds(crdNames);
  await core.deleteNamespace({ name: namespace });
});

describe('v1beta1 objects on the real API server', () => {
  it('accepts a claim as the upstream SDK 1.0.8 creates it', async () => {
    const stored = await create({
      kind: 'SandboxClaim',
      metadata: { name: 'sandbox-claim-0a1b2c3d', labels: { 'agents.x-k8s.io/created-by': 'python-client' } },
      spec: {
        warmPoolRef: { name: 'python-sandbox-warmpool' },
        lifecycle: { shutdownTime: '2030-01-01T00:00:00Z', shutdownPolicy: 'Delete' },
        additionalPodMetadata: { labels: { 'sandbox.users.io/team': 'ml' }, annotations: { note: 'x' } },
        env: [{ name: 'MODE', value: 'test' }],
        volumeClaimTemplates: vcts,
      },
    });
    expect(parsed(stored).spec).toMatchObject({ warmPoolRef: { name: 'python-sandbox-warmpool' } });
  });

  it('applies the defaults zod applies (pool replicas 1, operatingMode Running, volumeClaimTemplatesPolicy Disallowed)', async () => {
    const objects: [Json, Json][] = [
      [
        { kind: 'SandboxWarmPool', metadata: { name: 'p' }, spec: { sandboxTemplateRef: { name: 't' } } },
        { replicas: 1 },
      ],
      [
        { kind: 'Sandbox', metadata: { name: 's' }, spec: { podTemplate } },
        { operatingMode: 'Running', shutdownPolicy: 'Retain' },
      ],
      [
        { kind: 'SandboxTemplate', metadata: { name: 't' }, spec: { podTemplate, service: true } },
        {
          volumeClaimTemplatesPolicy: 'Disallowed',
          networkPolicyManagement: 'Managed',
          envVarsInjectionPolicy: 'Disallowed',
        },
      ],
    ];
    for (const [object, defaults] of objects) {
      const stored = await create(object);
      expect(stored.spec).toMatchObject(defaults);
      const zodDefaults = defOf(String(object.kind)).schema.parse(object) as { spec: Json };
      expect(stored.spec).toEqual(zodDefaults.spec);
    }
  });

  it('accepts a pool with replicas 0 and a Suspended Sandbox', async () => {
    const pool = await create({
      kind: 'SandboxWarmPool',
      metadata: { name: 'cold' },
      spec: { replicas: 0, sandboxTemplateRef: { name: 't' }, updateStrategy: { type: 'Recreate' } },
    });
    expect(parsed(pool).spec.replicas).toBe(0);
    const sandbox = await create({
      kind: 'Sandbox',
      metadata: { name: 'suspended' },
      spec: { podTemplate, operatingMode: 'Suspended' },
    });
    expect(parsed(sandbox).spec.operatingMode).toBe('Suspended');
  });

  it.each([
    [
      'a claim with v1alpha1 sandboxTemplateRef',
      { kind: 'SandboxClaim', metadata: { name: 'x1' }, spec: { sandboxTemplateRef: { name: 't' } } },
      'sandboxTemplateRef',
    ],
    [
      'a claim with v1alpha1 warmpool',
      { kind: 'SandboxClaim', metadata: { name: 'x2' }, spec: { warmpool: 'none' } },
      'warmpool',
    ],
    [
      'a Sandbox with v1alpha1 replicas',
      { kind: 'Sandbox', metadata: { name: 'x3' }, spec: { podTemplate, replicas: 1 } },
      'replicas',
    ],
    [
      'a Sandbox with operatingMode Paused',
      { kind: 'Sandbox', metadata: { name: 'x4' }, spec: { podTemplate, operatingMode: 'Paused' } },
      'spec.operatingMode',
    ],
    [
      'a template with volumeClaimTemplatesPolicy Merge',
      {
        kind: 'SandboxTemplate',
        metadata: { name: 'x5' },
        spec: { podTemplate, volumeClaimTemplatesPolicy: 'Merge' },
      },
      'spec.volumeClaimTemplatesPolicy',
    ],
    [
      'a claim whose warmPoolRef has no name',
      { kind: 'SandboxClaim', metadata: { name: 'x6' }, spec: { warmPoolRef: {} } },
      'spec.warmPoolRef.name',
    ],
  ])('refuses %s, as zod does', async (_title, object: Json, field) => {
    expect(await rejection(object)).toContain(field);
    const zod = defOf(String(object.kind)).schema.safeParse(object);
    expect(zod.error ? formatZodError(zod.error) : '').toContain(field);
  });

  it("keeps a Sandbox's volumeClaimTemplates immutable", async () => {
    const stored = await create({
      kind: 'Sandbox',
      metadata: { name: 'vct' },
      spec: { podTemplate, volumeClaimTemplates: vcts },
    });
    const t = target(stored);
    const edited = { ...stored, spec: { ...(stored.spec as Json), volumeClaimTemplates: [] } };
    await expect(
      custom.replaceNamespacedCustomObject({ ...t, name: 'vct', body: edited }),
    ).rejects.toMatchObject({
      body: expect.stringContaining('volumeClaimTemplates is immutable') as unknown,
    });
  });
});
