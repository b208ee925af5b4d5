/**
 * The conversion webhook against the real API server, with a test-only two-version CRD
 * (`gadgets.conversion-test.sandbank.dev`: v1 stored with `spec.size`, v2 served with
 * `spec.dimension`) so it does not depend on Sandbank's own CRDs. The webhook runs in this
 * process in url mode on 127.0.0.1:0 with its own CA from the Secret it creates.
 */
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:https';
import { integrationKubeConfig } from '@sandbank/e2e';
import { CUSTOM_RESOURCE_DEFINITIONS, SECRETS, createKubeClient } from '@sandbank/kube';
import type { KubeClient, KubeObject, ResourceType } from '@sandbank/kube';
import { Registry } from 'prom-client';
import {
  ensureWebhookTls,
  issueCa,
  issueLeaf,
  servingNames,
  type WebhookTls,
} from '../../src/webhook/certs.js';
import { ensureCrdConversion } from '../../src/webhook/crd-conversion.js';
import { createWebhookMetrics } from '../../src/webhook/metrics.js';
import type { Converter } from '../../src/webhook/review.js';
import { buildWebhookServer, reloadTls } from '../../src/webhook/server.js';
import { captureLogs, createNamespace, deleteNamespace } from './support.js';

const GROUP = 'conversion-test.sandbank.dev';
const suffix = `${process.pid.toString(36)}${Date.now().toString(36)}`;
// Plurals are unique per run so a reused control plane never sees an old test's CRD.
const GADGETS = `gadgets${suffix}`;
const WIDGETS = `widgets${suffix}`;
const gadgetCrd = `${GADGETS}.${GROUP}`;
const widgetCrd = `${WIDGETS}.${GROUP}`;
const gadget = (version: 'v1' | 'v2'): ResourceType<true> => ({
  group: GROUP,
  version,
  plural: GADGETS,
  kind: 'Gadget',
  namespaced: true,
});

interface Gadget extends KubeObject {
  spec: { size?: number; dimension?: number };
}

/** v1 `size` ↔ v2 `dimension`, so a read proves the object went through the webhook. */
const convertGadget: Converter = (obj, desired) => {
  const g = obj as Gadget;
  const spec = desired.endsWith('/v2') ? { dimension: g.spec.size } : { size: g.spec.dimension };
  return { ok: true, object: { ...g, apiVersion: desired, spec } };
};

const intSpec = (field: string) => ({
  type: 'object',
  properties: { spec: { type: 'object', properties: { [field]: { type: 'integer' } } } },
});

const crdBody = (
  plural: string,
  kind: string,
  versions: { name: string; field: string; storage: boolean }[],
) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural, singular: plural.replace(/s(?=[^s]*$)/, ''), kind, listKind: `${kind}List` },
    // No webhook yet: ensureCrdConversion turns it on, as it does for Sandbank's CRDs.
    conversion: { strategy: 'None' },
    versions: versions.map((v) => ({
      name: v.name,
      served: true,
      storage: v.storage,
      schema: { openAPIV3Schema: intSpec(v.field) },
    })),
  },
});

const client: KubeClient = createKubeClient(integrationKubeConfig());
const logs = captureLogs();
const registry = new Registry();
let ns = '';
let server: Server | undefined;
let tls: WebhookTls;
let url = '';

async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${ms / 1000} s (last error: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function established(name: string): Promise<void> {
  await eventually(`CRD ${name} established`, async () => {
    const crd = await client.get<
      KubeObject & { status?: { conditions?: { type: string; status: string }[] } },
      false
    >(CUSTOM_RESOURCE_DEFINITIONS, '', name);
    return crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
      ? true
      : undefined;
  });
}

/** The serial number of the certificate the webhook presents on a new connection. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: tls.caPem, servername: 'localhost' }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? '';
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  ns = await createNamespace(client, 'webhook');
  await client.create(
    CUSTOM_RESOURCE_DEFINITIONS,
    '',
    crdBody(GADGETS, 'Gadget', [
      { name: 'v1', field: 'size', storage: true },
      { name: 'v2', field: 'dimension', storage: false },
    ]),
  );
  await client.create(
    CUSTOM_RESOURCE_DEFINITIONS,
    '',
    crdBody(WIDGETS, 'Widget', [{ name: 'v1', field: 'size', storage: true }]),
  );
  await Promise.all([established(gadgetCrd), established(widgetCrd)]);

  // Listen first (the port goes into the certificate's URL), then serve the Secret's certificate.
  const placeholder = { caPem: undefined, ...issueLeaf(issueCa(new Date()), ['127.0.0.1'], new Date()) };
  server = buildWebhookServer({
    tls: placeholder,
    convert: convertGadget,
    log: logs.log,
    metrics: createWebhookMetrics(registry),
  });
  const srv = server;
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}/convert`;
  tls = (
    await ensureWebhookTls(client, { namespace: ns, name: 'sandbank-webhook-tls' }, servingNames({ url }), {
      log: logs.log,
    })
  ).tls;
  reloadTls(srv, tls);
});

afterAll(async () => {
  for (const name of [gadgetCrd, widgetCrd]) await client.delete(CUSTOM_RESOURCE_DEFINITIONS, '', name);
  await deleteNamespace(client, ns);
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

describe('conversion webhook on the real API server', () => {
  it('points a two-version CRD at itself with its CA, and leaves a one-version CRD alone', async () => {
    const opts = { target: { url }, caPem: tls.caPem, crds: [gadgetCrd, widgetCrd], log: logs.log };
    expect(await ensureCrdConversion(client, opts)).toEqual({
      [gadgetCrd]: 'patched',
      [widgetCrd]: 'single-version',
    });
    expect(await ensureCrdConversion(client, opts)).toEqual({
      [gadgetCrd]: 'unchanged',
      [widgetCrd]: 'single-version',
    });
    const crd = await client.get<KubeObject & { spec: { conversion: unknown } }, false>(
      CUSTOM_RESOURCE_DEFINITIONS,
      '',
      gadgetCrd,
    );
    expect(crd?.spec.conversion).toEqual({
      strategy: 'Webhook',
      webhook: {
        conversionReviewVersions: ['v1'],
        clientConfig: { url, caBundle: Buffer.from(tls.caPem ?? '').toString('base64') },
      },
    });
    const widget = await client.get<KubeObject & { spec: { conversion: unknown } }, false>(
      CUSTOM_RESOURCE_DEFINITIONS,
      '',
      widgetCrd,
    );
    expect(widget?.spec.conversion).toEqual({ strategy: 'None' });
  });

  it('reads an object written in v1 as v2 and one written in v2 as v1', async () => {
    await client.create<Gadget>(gadget('v1'), ns, { metadata: { name: 'small' }, spec: { size: 3 } });
    const asV2 = await eventually('small read as v2', async () => {
      const g = await client.get<Gadget>(gadget('v2'), ns, 'small');
      return g?.spec.dimension === 3 ? g : undefined;
    });
    expect(asV2.apiVersion).toBe(`${GROUP}/v2`);
    expect(asV2.spec).toEqual({ dimension: 3 });

    await client.create<Gadget>(gadget('v2'), ns, { metadata: { name: 'large' }, spec: { dimension: 9 } });
    expect((await client.get<Gadget>(gadget('v1'), ns, 'large'))?.spec).toEqual({ size: 9 });
    expect((await client.get<Gadget>(gadget('v2'), ns, 'large'))?.spec).toEqual({ dimension: 9 });
    const listed = await client.list<Gadget>(gadget('v2'), ns);
    expect(listed.items.map((g) => [g.metadata.name, g.spec])).toEqual([
      ['large', { dimension: 9 }],
      ['small', { dimension: 3 }],
    ]);
    expect(await registry.getSingleMetricAsString('sandbank_conversion_requests_total')).toMatch(
      /sandbank_conversion_requests_total\{from="v1",to="v2",result="success"\} [1-9]/,
    );
  });

  it.each([
    ['names another CA', () => Buffer.from(issueCa(new Date()).certPem).toString('base64')],
    ['is absent', () => null],
  ])(
    'fails reads in the other version while the caBundle %s, until it is repaired',
    async (_what, caBundle) => {
      await client.mergePatch(CUSTOM_RESOURCE_DEFINITIONS, '', gadgetCrd, {
        spec: { conversion: { webhook: { clientConfig: { caBundle: caBundle() } } } },
      });
      const refused = await eventually('a v2 read refused', async () => {
        try {
          await client.get<Gadget>(gadget('v2'), ns, 'small');
          return undefined;
        } catch (error) {
          return error;
        }
      });
      expect(String(refused)).toMatch(/conversion webhook/);
      // The storage version needs no conversion, so it keeps working.
      expect((await client.get<Gadget>(gadget('v1'), ns, 'small'))?.spec).toEqual({ size: 3 });

      const opts = { target: { url }, caPem: tls.caPem, crds: [gadgetCrd] };
      expect(await ensureCrdConversion(client, opts)).toEqual({ [gadgetCrd]: 'patched' });
      await eventually(
        'v2 read after the repair',
        async () => (await client.get<Gadget>(gadget('v2'), ns, 'small'))?.spec,
      );
    },
  );

  it('keeps serving across a leaf rotation, with the same CA and no CRD change', async () => {
    const port = Number(new URL(url).port);
    // A leaf of the same CA with ten days left, as a replica finds it eleven months on.
    const ref = { namespace: ns, name: 'sandbank-webhook-tls' };
    const stored = await client.get<KubeObject & { data: Record<string, string> }>(SECRETS, ns, ref.name);
    const caKeyPem = Buffer.from(stored?.data['ca.key'] ?? '', 'base64').toString();
    const ending = issueLeaf(
      { certPem: tls.caPem ?? '', keyPem: caKeyPem },
      servingNames({ url }),
      new Date(),
      10 * 86_400_000,
    );
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    await client.replace(SECRETS, ns, {
      ...(stored as KubeObject),
      data: { ...stored?.data, 'tls.crt': b64(ending.certPem), 'tls.key': b64(ending.keyPem) },
    });
    reloadTls(server as Server, { caPem: tls.caPem, ...ending });
    expect(await servedSerial(port)).toBe(new X509Certificate(ending.certPem).serialNumber);

    const rotated = await ensureWebhookTls(client, ref, servingNames({ url }));
    expect(rotated.changed).toBe('renewed');
    expect(rotated.tls.caPem).toBe(tls.caPem);
    expect(rotated.tls.certPem).not.toBe(ending.certPem);
    expect(new Date(new X509Certificate(rotated.tls.certPem).validTo).getTime()).toBeGreaterThan(
      Date.now() + 300 * 86_400_000,
    );
    // Another replica reading the Secret now keeps what the first one wrote.
    const reread = await ensureWebhookTls(client, ref, servingNames({ url }));
    expect(reread).toEqual({ tls: rotated.tls, changed: undefined });

    reloadTls(server as Server, rotated.tls);
    expect(await servedSerial(port)).toBe(new X509Certificate(rotated.tls.certPem).serialNumber);
    expect(
      await ensureCrdConversion(client, { target: { url }, caPem: rotated.tls.caPem, crds: [gadgetCrd] }),
    ).toEqual({
      [gadgetCrd]: 'unchanged',
    });
    await client.create<Gadget>(gadget('v2'), ns, {
      metadata: { name: 'after-rotation' },
      spec: { dimension: 4 },
    });
    expect((await client.get<Gadget>(gadget('v2'), ns, 'small'))?.spec).toEqual({ dimension: 3 });
    expect((await client.get<Gadget>(gadget('v1'), ns, 'after-rotation'))?.spec).toEqual({ size: 4 });
  });

  it('creates the Secret once when replicas race, each reading the same CA', async () => {
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        ensureWebhookTls(client, { namespace: ns, name: 'race-tls' }, servingNames({ url })),
      ),
    );
    expect(results.filter((r) => r.changed === 'created')).toHaveLength(1);
    expect(new Set(results.map((r) => r.tls.caPem)).size).toBe(1);
  });

  it('names the missing Secret namespace', async () => {
    await expect(
      ensureWebhookTls(client, { namespace: `no-such-${suffix}`, name: 'x' }, ['localhost'], {
        retryForMs: 1_000,
      }),
    ).rejects.toThrow(new RegExp(`Secret no-such-${suffix}/x: cannot be created: does namespace`));
  });
});
