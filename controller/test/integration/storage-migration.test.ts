/**
 * storedVersions migration on the real API server, with test-only CRDs
 * (`things<run>.conversion-test.sandbank.dev`, with a status subresource like Sandboxes, claims
 * and pools; `bares<run>`, without one like SandboxTemplates): objects written while v1 was the
 * storage version are encoded as v1 in etcd (read through etcd's JSON gateway); after the
 * storage version becomes v2 (conversion through a webhook in this process),
 * migrateStoredVersions rewrites each Thing with an unchanged status PATCH alone (the rights the
 * controller has: it may not update or patch the objects themselves), etcd holds v2,
 * storedVersions is ['v2'], and each object reads back the same in both versions. An object
 * changed or deleted under the migration is rewritten or skipped. The kind without a status
 * subresource is left to the operator: logged once, objects and storedVersions untouched until
 * the manual steps of docs/conversion-webhook.md ran.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { integrationKubeConfig } from '@sandbank/e2e';
import { CUSTOM_RESOURCE_DEFINITIONS, createKubeClient } from '@sandbank/kube';
import type { KubeClient, KubeObject, ResourceType } from '@sandbank/kube';
import { migrateStoredVersions } from '../../src/storage-migration.js';
import { issueCa, issueLeaf } from '../../src/webhook/certs.js';
import type { Converter } from '../../src/webhook/review.js';
import { buildWebhookServer } from '../../src/webhook/server.js';
import { captureLogs, createNamespace, deleteNamespace } from './support.js';

const GROUP = 'conversion-test.sandbank.dev';
const PLURAL = `things${process.pid.toString(36)}${Date.now().toString(36)}`;
const CRD = `${PLURAL}.${GROUP}`;
const thing = (version: 'v1' | 'v2'): ResourceType<true> => ({
  group: GROUP,
  version,
  plural: PLURAL,
  kind: 'Thing',
  namespaced: true,
});
const BARE_PLURAL = `bares${process.pid.toString(36)}${Date.now().toString(36)}`;
const BARE_CRD = `${BARE_PLURAL}.${GROUP}`;
const bare = (version: 'v1' | 'v2'): ResourceType<true> => ({
  group: GROUP,
  version,
  plural: BARE_PLURAL,
  kind: 'Bare',
  namespaced: true,
});

/**
 * The client with only what the controller may do to these kinds: read, and patch the status
 * subresource (and the CRD's status). Any write to an object itself fails the test.
 */
function statusOnly(inner: KubeClient): KubeClient {
  const refuse = (what: string) => (): never => {
    throw new Error(`the migration used ${what}, which the controller may not`);
  };
  return {
    ...inner,
    create: refuse('create'),
    replace: refuse('replace (PUT of the object)'),
    mergePatch: refuse('mergePatch of the object'),
    delete: refuse('delete'),
  };
}

interface Thing extends KubeObject {
  spec: { size?: number; dimension?: number };
}

const convertThing: Converter = (obj, desired) => {
  const t = obj as Thing;
  const spec = desired.endsWith('/v2') ? { dimension: t.spec.size } : { size: t.spec.dimension };
  return { ok: true, object: { ...t, apiVersion: desired, spec } };
};

const schema = (field: string) => ({
  openAPIV3Schema: {
    type: 'object',
    properties: {
      spec: { type: 'object', properties: { [field]: { type: 'integer' } } },
      status: { type: 'object', properties: { seen: { type: 'integer' } } },
    },
  },
});
const withStatus = { status: {} };

interface CrdObject extends KubeObject {
  spec: Record<string, unknown>;
  status?: { storedVersions?: string[]; conditions?: { type: string; status: string }[] };
}

const client: KubeClient = createKubeClient(integrationKubeConfig());
const logs = captureLogs();
let ns = '';
let server: Server | undefined;

/** The object as etcd holds it, through etcd's gRPC-JSON gateway (the control plane's own etcd). */
async function etcdJson(namespace: string, name: string): Promise<{ apiVersion: string; spec: unknown }> {
  return etcdJsonAt(`/registry/${GROUP}/${PLURAL}/${namespace}/${name}`);
}

async function etcdJsonAt(path: string): Promise<{ apiVersion: string; spec: unknown }> {
  const kubeconfig = process.env['SANDBANK_KUBECONFIG'] ?? '';
  const ports = readFileSync(join(dirname(kubeconfig), 'ports.env'), 'utf8');
  const port = /^ETCD_CLIENT_PORT=(\d+)$/m.exec(ports)?.[1];
  if (port === undefined) throw new Error('ports.env names no ETCD_CLIENT_PORT');
  const key = Buffer.from(path).toString('base64');
  const res = await fetch(`http://127.0.0.1:${port}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key }),
  });
  const body = (await res.json()) as { kvs?: { value: string }[] };
  const value = body.kvs?.[0]?.value;
  if (value === undefined) throw new Error(`etcd has no ${path}`);
  return JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as { apiVersion: string; spec: unknown };
}

async function crd(name = CRD): Promise<CrdObject> {
  const got = await client.get<CrdObject, false>(CUSTOM_RESOURCE_DEFINITIONS, '', name);
  if (got === undefined) throw new Error(`CRD ${name} is gone`);
  return got;
}

/** The object as etcd holds it, by its CRD's plural. */
async function etcdJsonOf(plural: string, namespace: string, name: string) {
  return etcdJsonAt(`/registry/${GROUP}/${plural}/${namespace}/${name}`);
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 60_000;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within 60 s (last error: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  ns = await createNamespace(client, 'storage-migration');
  await client.create(CUSTOM_RESOURCE_DEFINITIONS, '', {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { plural: PLURAL, singular: PLURAL.slice(0, -1), kind: 'Thing', listKind: 'ThingList' },
      versions: [
        { name: 'v1', served: true, storage: true, schema: schema('size'), subresources: withStatus },
      ],
    },
  });
  await client.create(CUSTOM_RESOURCE_DEFINITIONS, '', {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: BARE_CRD },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { plural: BARE_PLURAL, singular: BARE_PLURAL.slice(0, -1), kind: 'Bare', listKind: 'BareList' },
      versions: [{ name: 'v1', served: true, storage: true, schema: schema('size') }],
    },
  });
  for (const name of [CRD, BARE_CRD]) {
    await eventually(`CRD ${name} established`, async () =>
      (await crd(name)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
        ? true
        : undefined,
    );
  }
});

afterAll(async () => {
  await client.delete(CUSTOM_RESOURCE_DEFINITIONS, '', CRD);
  await client.delete(CUSTOM_RESOURCE_DEFINITIONS, '', BARE_CRD);
  await deleteNamespace(client, ns);
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

describe('migrateStoredVersions', () => {
  it('rewrites objects stored as v1 in v2 and trims storedVersions to v2', async () => {
    for (const [name, size] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['d', 4],
    ] as const) {
      await client.create<Thing>(thing('v1'), ns, { metadata: { name }, spec: { size } });
    }
    // One with a status already (most objects have one: the controller writes it).
    await client.patchStatus(thing('v1'), ns, 'b', { seen: 7 });
    expect(await etcdJson(ns, 'a')).toMatchObject({ apiVersion: `${GROUP}/v1`, spec: { size: 1 } });

    // The new CRD: v2 stored, v1 still served, converted by a webhook of this process.
    const now = new Date();
    const ca = issueCa(now);
    const srv = buildWebhookServer({
      tls: { caPem: ca.certPem, ...issueLeaf(ca, ['127.0.0.1'], now) },
      convert: convertThing,
      log: logs.log,
    });
    server = srv;
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}/convert`;
    const old = await crd();
    await client.replace(CUSTOM_RESOURCE_DEFINITIONS, '', {
      ...old,
      spec: {
        ...old.spec,
        versions: [
          { name: 'v2', served: true, storage: true, schema: schema('dimension'), subresources: withStatus },
          { name: 'v1', served: true, storage: false, schema: schema('size'), subresources: withStatus },
        ],
        conversion: {
          strategy: 'Webhook',
          webhook: {
            conversionReviewVersions: ['v1'],
            clientConfig: { url, caBundle: Buffer.from(ca.certPem).toString('base64') },
          },
        },
      },
    });
    expect((await crd()).status?.storedVersions).toEqual(['v1', 'v2']);
    // Both versions readable before the migration (the webhook converts the stored v1).
    await eventually(
      'a read as v2',
      async () => (await client.get<Thing>(thing('v2'), ns, 'a'))?.spec.dimension,
    );
    expect((await client.get<Thing>(thing('v1'), ns, 'a'))?.spec).toEqual({ size: 1 });

    // Under the migration, c changes after the list and d is deleted (404).
    let changedC = false;
    const limited = statusOnly(client);
    const racing: KubeClient = {
      ...limited,
      patchStatus: async (type, namespace, name, status) => {
        if (name === 'c' && !changedC) {
          changedC = true;
          await client.mergePatch(type, namespace, 'c', { metadata: { labels: { touched: 'yes' } } });
        }
        if (name === 'd') await client.delete(type, namespace, 'd');
        return limited.patchStatus(type, namespace, name, status);
      },
    };
    const [result] = await migrateStoredVersions(racing, [CRD], { log: logs.log });
    expect(result).toEqual({ crd: CRD, result: 'migrated', rewritten: 3, gone: 1, storedVersions: ['v2'] });
    expect(changedC).toBe(true);
    // The status went through the rewrite unchanged.
    expect((await client.get<Thing & { status?: unknown }>(thing('v2'), ns, 'b'))?.status).toEqual({
      seen: 7,
    });

    expect((await crd()).status?.storedVersions).toEqual(['v2']);
    for (const [name, size] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ] as const) {
      expect(await etcdJson(ns, name)).toMatchObject({
        apiVersion: `${GROUP}/v2`,
        spec: { dimension: size },
      });
      expect((await client.get<Thing>(thing('v1'), ns, name))?.spec).toEqual({ size });
      expect((await client.get<Thing>(thing('v2'), ns, name))?.spec).toEqual({ dimension: size });
    }
    expect((await client.get<Thing>(thing('v2'), ns, 'c'))?.metadata.labels).toEqual({ touched: 'yes' });
    expect(await client.get<Thing>(thing('v2'), ns, 'd')).toBeUndefined();

    // Done once: the next run finds nothing to do.
    expect(await migrateStoredVersions(client, [CRD])).toEqual([
      { crd: CRD, result: 'up-to-date', rewritten: 0, gone: 0, storedVersions: ['v2'] },
    ]);
  });

  it('leaves a kind without a status subresource to the operator: logged once, storedVersions kept', async () => {
    for (const [name, size] of [
      ['x', 1],
      ['y', 2],
    ] as const) {
      await client.create<Thing>(bare('v1'), ns, { metadata: { name }, spec: { size } });
    }
    // v2 stored, same schema both ways: the API server converts by rewriting apiVersion alone.
    const old = await crd(BARE_CRD);
    await client.replace(CUSTOM_RESOURCE_DEFINITIONS, '', {
      ...old,
      spec: {
        ...old.spec,
        versions: [
          { name: 'v2', served: true, storage: true, schema: schema('size') },
          { name: 'v1', served: true, storage: false, schema: schema('size') },
        ],
      },
    });
    expect((await crd(BARE_CRD)).status?.storedVersions).toEqual(['v1', 'v2']);

    const before = logs.lines.length;
    const results = await migrateStoredVersions(statusOnly(client), [BARE_CRD], { log: logs.log });
    expect(results).toEqual([
      { crd: BARE_CRD, result: 'manual', rewritten: 0, gone: 0, storedVersions: ['v1', 'v2'] },
    ]);
    const said = logs.lines.slice(before).filter((l) => JSON.stringify(l).includes('manual'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ crd: BARE_CRD, kind: 'Bare' });
    expect(String(said[0]?.['msg'])).toContain('docs/conversion-webhook.md');
    expect((await crd(BARE_CRD)).status?.storedVersions).toEqual(['v1', 'v2']);
    expect(await etcdJsonOf(BARE_PLURAL, ns, 'x')).toMatchObject({ apiVersion: `${GROUP}/v1` });

    // The operator's steps (the docs' loop: every object PUT back, then storedVersions); the
    // next run finds nothing to do.
    for (const item of (await client.list<Thing>(bare('v2'), ns)).items)
      await client.replace(bare('v2'), ns, item);
    expect(await etcdJsonOf(BARE_PLURAL, ns, 'x')).toMatchObject({ apiVersion: `${GROUP}/v2` });
    await client.patchStatus(CUSTOM_RESOURCE_DEFINITIONS, '', BARE_CRD, { storedVersions: ['v2'] });
    expect(await migrateStoredVersions(statusOnly(client), [BARE_CRD])).toEqual([
      { crd: BARE_CRD, result: 'up-to-date', rewritten: 0, gone: 0, storedVersions: ['v2'] },
    ]);
  });

  it('reports a CRD that does not exist', async () => {
    expect(await migrateStoredVersions(client, [`nothing.${GROUP}`])).toEqual([
      { crd: `nothing.${GROUP}`, result: 'missing', rewritten: 0, gone: 0, storedVersions: [] },
    ]);
  });
});
