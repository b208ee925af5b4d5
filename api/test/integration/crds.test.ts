/**
 * The generated CRDs against the real kube-apiserver + etcd of the integration global setup:
 * served and established, the GKE guide's YAML applies unchanged, every invalid object of the
 * shared table is refused by the server naming the same field zod names, and what the server
 * stores parses with zod.
 */
import { execFileSync } from 'node:child_process';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { crdDefinitions, formatZodError, SandboxTemplate, SandboxWarmPool, v1alpha1 } from '@sandbank/api';
import { clusterBinary, integrationKubeConfig } from '@sandbank/e2e';
import { gkeGuideFile } from '@sandbank/testing';
import {
  invalidCases,
  validClaim,
  validPool,
  validSandbox,
  validTemplate,
  type KubeObject,
} from '../fixtures/objects.js';

const kc = integrationKubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const core = kc.makeApiClient(CoreV1Api);
const namespace = `crd-test-${process.pid}`;

/** The shared table's objects are v1alpha1 (the API server converts them through the webhook). */
function target(object: KubeObject) {
  const def = v1alpha1.crdDefinitions.find((d) => d.kind === object.kind);
  if (!def) throw new Error(`no CRD for ${object.kind}`);
  return { def, group: def.group, version: def.version, plural: def.plural };
}

/** Creates like `kubectl create` does: strict field validation, so unknown fields are errors. */
async function create(object: KubeObject): Promise<Record<string, unknown>> {
  const { group, version, plural } = target(object);
  return (await custom.createNamespacedCustomObject({
    group,
    version,
    plural,
    namespace,
    body: object,
    fieldValidation: 'Strict',
  })) as Record<string, unknown>;
}

/** The server's error message for `object`, or '' when it was accepted. */
async function rejection(object: KubeObject): Promise<string> {
  try {
    await create(object);
    return '';
  } catch (error) {
    const body = (error as { body?: unknown }).body;
    const parsed = typeof body === 'string' ? (JSON.parse(body) as { message?: string; code?: number }) : {};
    expect([400, 422]).toContain(parsed.code);
    return parsed.message ?? String(error);
  }
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
});

it('serves every generated CRD, established, with the scale and status subresources declared', async () => {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  for (const def of crdDefinitions) {
    const crd = await ext.readCustomResourceDefinition({ name: `${def.plural}.${def.group}` });
    const established = crd.status?.conditions?.find((c) => c.type === 'Established');
    expect(established?.status).toBe('True');
    const version = crd.spec.versions.find((v) => v.name === def.version);
    expect(Boolean(version?.subresources?.status)).toBe(def.subresources.status);
    expect(Boolean(version?.subresources?.scale)).toBe(Boolean(def.subresources.scale));
  }
});

it('applies the GKE guide YAML unchanged with kubectl, and zod parses what the server stored', () => {
  const kubectl = clusterBinary('kubectl');
  const args = [`--kubeconfig=${process.env['SANDBANK_KUBECONFIG'] ?? ''}`];
  try {
    const out = execFileSync(kubectl, [...args, 'apply', '-f', gkeGuideFile], { encoding: 'utf8' });
    expect(out).toContain('sandboxtemplate.extensions.agents.x-k8s.io/python-runtime-template');
    expect(out).toContain('sandboxwarmpool.extensions.agents.x-k8s.io/python-sandbox-warmpool');
    const stored = JSON.parse(
      execFileSync(
        kubectl,
        [...args, '-n', 'default', 'get', 'sandboxtemplate,sandboxwarmpool', '-o', 'json'],
        {
          encoding: 'utf8',
        },
      ),
    ) as { items: KubeObject[] };
    const [template, pool] = stored.items;
    const parsedTemplate = SandboxTemplate.parse(template);
    expect(parsedTemplate.spec.podTemplate.spec.runtimeClassName).toBe('gvisor');
    // The server applied the CRD defaults, the same ones zod applies.
    expect(parsedTemplate.spec.networkPolicyManagement).toBe('Managed');
    expect(SandboxWarmPool.parse(pool).spec.replicas).toBe(2);
  } finally {
    execFileSync(kubectl, [...args, 'delete', '--ignore-not-found', '-f', gkeGuideFile], {
      encoding: 'utf8',
    });
  }
});

it.each([validTemplate, validPool, validClaim, validSandbox].map((make) => [make().kind, make] as const))(
  'accepts a full valid %s, and what it stores parses with zod',
  async (_kind, make) => {
    const object = make();
    const stored = await create(object);
    const schema = target(object).def.schema;
    const result = schema.safeParse(stored);
    expect(result.error ? formatZodError(result.error) : '').toBe('');
  },
);

it('serves the warm pool scale subresource (for HPA and KEDA)', async () => {
  const pool = { ...validPool(), metadata: { name: 'scaled' } };
  await create(pool);
  const scale = (await custom.getNamespacedCustomObjectScale({
    group: 'extensions.agents.x-k8s.io',
    version: 'v1alpha1',
    plural: 'sandboxwarmpools',
    namespace,
    name: 'scaled',
  })) as { spec?: { replicas?: number } };
  expect(scale.spec?.replicas).toBe(2);
});

describe('invalid objects: the server and zod both refuse them, naming the same field', () => {
  it.each(invalidCases.map((c) => [c.title, c] as const))('%s', async (_title, c) => {
    const message = await rejection({ ...c.object, metadata: { name: `bad-${invalidCases.indexOf(c)}` } });
    expect(message).toContain(c.field);
    const zodResult = target(c.object).def.schema.safeParse(c.object);
    expect(zodResult.success).toBe(false);
    expect(zodResult.error ? formatZodError(zodResult.error) : '').toContain(c.field);
  });
});
