// KubeClient against the real API server: preconditions, conflicts, subresources, field manager.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { jest } from '@jest/globals';
import { integrationKubeConfig } from '@sandbank/e2e';
import { EXTENSIONS_API_VERSION, SANDBOX_CLAIM_KIND, type SandboxClaim } from '@sandbank/api';
import { createKubeClient } from '../../src/client.js';
import { KubeError, isKubeError } from '../../src/errors.js';
import { CONFIG_MAPS, SANDBOX_CLAIMS } from '../../src/resources.js';
import { createTransport } from '../../src/transport.js';
import type { KubeClient, KubeObject } from '../../src/types.js';
import { createNamespace, deleteNamespace } from './support.js';

// The integration project's testTimeout is not applied per project by jest; set it here.
jest.setTimeout(60_000);

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const kc = integrationKubeConfig();
const transport = createTransport(kc);
const client: KubeClient = createKubeClient(kc, { transport });
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(client, 'client');
});

afterAll(async () => {
  await deleteNamespace(client, ns);
  transport.close();
});

const cm = (name: string, data: Record<string, string> = {}): ConfigMap => ({ metadata: { name }, data });

async function rejection(p: Promise<unknown>): Promise<KubeError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KubeError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('KubeClient', () => {
  it('creates and gets; get of a missing object is undefined; a second create is AlreadyExists', async () => {
    const created = await client.create<ConfigMap>(CONFIG_MAPS, ns, cm('a', { k: 'v' }));
    expect(created).toMatchObject({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: ns },
      data: { k: 'v' },
    });
    expect(created.metadata.managedFields).toEqual([
      expect.objectContaining({ manager: 'sandbank-controller' }),
    ]);

    const got = await client.get<ConfigMap>(CONFIG_MAPS, ns, 'a');
    expect(got?.metadata.uid).toBe(created.metadata.uid);
    expect(await client.get(CONFIG_MAPS, ns, 'missing')).toBeUndefined();

    const dup = await rejection(client.create(CONFIG_MAPS, ns, cm('a')));
    expect([dup.kind, dup.status]).toEqual(['AlreadyExists', 409]);
  });

  it('returns stored objects: identity filled in by the server', async () => {
    const created = await client.create<ConfigMap>(CONFIG_MAPS, ns, {
      metadata: { generateName: 'generated-' },
      data: {},
    });
    expect(created.metadata.name).toMatch(/^generated-/);
    expect(created.metadata.namespace).toBe(ns);
    expect(created.metadata.uid).not.toBe('');
    expect(created.metadata.resourceVersion).not.toBe('');
  });

  it('createIfAbsent creates once and then answers undefined, leaving the first object as it was', async () => {
    const first = await client.createIfAbsent<ConfigMap>(CONFIG_MAPS, ns, cm('once', { n: '1' }));
    expect(first?.data).toEqual({ n: '1' });
    expect(await client.createIfAbsent<ConfigMap>(CONFIG_MAPS, ns, cm('once', { n: '2' }))).toBeUndefined();
    expect((await client.get<ConfigMap>(CONFIG_MAPS, ns, 'once'))?.metadata.uid).toBe(first?.metadata.uid);
    expect((await client.get<ConfigMap>(CONFIG_MAPS, ns, 'once'))?.data).toEqual({ n: '1' });
  });

  it('lists a collection with its selectors', async () => {
    await client.create<ConfigMap>(CONFIG_MAPS, ns, { metadata: { name: 'l1', labels: { list: 'yes' } } });
    await client.create<ConfigMap>(CONFIG_MAPS, ns, { metadata: { name: 'l2', labels: { list: 'no' } } });
    const listed = await client.list<ConfigMap>(CONFIG_MAPS, ns, { labelSelector: 'list=yes' });
    expect(listed.items.map((o) => o.metadata.name)).toEqual(['l1']);
    expect(listed.resourceVersion).not.toBe('');
  });

  it('maps a server-side validation failure to Invalid', async () => {
    const e = await rejection(client.create(CONFIG_MAPS, ns, cm('Not_A_Name')));
    expect([e.kind, e.status]).toEqual(['Invalid', 422]);
    expect(e.message).toContain('Not_A_Name');
  });

  it('replace succeeds at the current resourceVersion and is a Conflict at a stale one', async () => {
    const v1 = await client.create<ConfigMap>(CONFIG_MAPS, ns, cm('r', { n: '1' }));
    const v2 = await client.replace<ConfigMap>(CONFIG_MAPS, ns, { ...v1, data: { n: '2' } });
    expect(v2.data).toEqual({ n: '2' });
    expect(v2.metadata.resourceVersion).not.toBe(v1.metadata.resourceVersion);

    const stale = await rejection(client.replace(CONFIG_MAPS, ns, { ...v1, data: { n: '3' } }));
    expect([stale.kind, stale.status]).toEqual(['Conflict', 409]);
    expect((await client.get<ConfigMap>(CONFIG_MAPS, ns, 'r'))?.data).toEqual({ n: '2' });

    const unguarded = { metadata: { name: 'r' }, data: { n: '4' } };
    expect((await rejection(client.replace(CONFIG_MAPS, ns, unguarded))).kind).toBe('Invalid');
  });

  it('mergePatch merges, and with a resourceVersion refuses a stale patch', async () => {
    const v1 = await client.create<ConfigMap>(CONFIG_MAPS, ns, cm('p', { a: '1', b: '1' }));
    const v2 = await client.mergePatch<ConfigMap>(CONFIG_MAPS, ns, 'p', { data: { b: '2', c: '3' } });
    expect(v2.data).toEqual({ a: '1', b: '2', c: '3' });

    const stale = await rejection(
      client.mergePatch(
        CONFIG_MAPS,
        ns,
        'p',
        { data: { a: 'x' } },
        { resourceVersion: v1.metadata.resourceVersion },
      ),
    );
    expect(stale.kind).toBe('Conflict');

    const v3 = await client.mergePatch<ConfigMap>(
      CONFIG_MAPS,
      ns,
      'p',
      { metadata: { labels: { bound: 'yes' } }, data: { a: null } },
      { resourceVersion: v2.metadata.resourceVersion },
    );
    expect(v3.data).toEqual({ b: '2', c: '3' });
    expect(v3.metadata.labels).toEqual({ bound: 'yes' });

    const missing = await rejection(client.mergePatch(CONFIG_MAPS, ns, 'nope', { data: {} }));
    expect(missing.kind).toBe('NotFound');
  });

  it('patchStatus writes the status subresource of a SandboxClaim (and the main resource does not)', async () => {
    const claim = await client.create<SandboxClaim>(SANDBOX_CLAIMS, ns, {
      apiVersion: EXTENSIONS_API_VERSION,
      kind: SANDBOX_CLAIM_KIND,
      metadata: { name: 'c1' },
      spec: { warmPoolRef: { name: 't' } },
    });
    expect(claim.apiVersion).toBe('extensions.agents.x-k8s.io/v1beta1');

    const condition = {
      type: 'Ready',
      status: 'True',
      reason: 'SandboxReady',
      message: 'bound',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      observedGeneration: 1,
    };
    const patched = await client.patchStatus<SandboxClaim>(SANDBOX_CLAIMS, ns, 'c1', {
      conditions: [condition],
      sandbox: { name: 'c1', podIPs: ['10.244.0.9'] },
    });
    expect(patched.status).toEqual({
      conditions: [condition],
      sandbox: { name: 'c1', podIPs: ['10.244.0.9'] },
    });
    expect(patched.spec.warmPoolRef?.name).toBe('t');

    // Status written through the main resource is ignored by the server.
    const viaMain = await client.mergePatch<SandboxClaim>(SANDBOX_CLAIMS, ns, 'c1', {
      status: { sandbox: { name: 'x' } },
    });
    expect(viaMain.status?.sandbox?.name).toBe('c1');
    const managers =
      (viaMain.metadata.managedFields as { manager?: string; subresource?: string }[] | undefined) ?? [];
    expect(managers.filter((m) => m.subresource === 'status').map((m) => m.manager)).toEqual([
      'sandbank-controller',
    ]);
  });

  it('delete honours uid and resourceVersion preconditions and returns false once gone', async () => {
    const obj = await client.create<ConfigMap>(CONFIG_MAPS, ns, cm('d'));
    const wrongUid = await rejection(
      client.delete(CONFIG_MAPS, ns, 'd', { uid: '00000000-0000-0000-0000-000000000000' }),
    );
    expect(wrongUid.kind).toBe('Conflict');

    const updated = await client.mergePatch<ConfigMap>(CONFIG_MAPS, ns, 'd', { data: { x: '1' } });
    const staleRv = await rejection(
      client.delete(CONFIG_MAPS, ns, 'd', { resourceVersion: obj.metadata.resourceVersion }),
    );
    expect(staleRv.kind).toBe('Conflict');

    expect(
      await client.delete(CONFIG_MAPS, ns, 'd', {
        uid: obj.metadata.uid,
        resourceVersion: updated.metadata.resourceVersion,
        propagationPolicy: 'Background',
      }),
    ).toBe(true);
    expect(await client.delete(CONFIG_MAPS, ns, 'd')).toBe(false);
    expect(await client.get(CONFIG_MAPS, ns, 'd')).toBeUndefined();
  });

  it('reuses connections: 40 sequential guarded writes open at most one new connection', async () => {
    // Observed on each HTTP request this process sends (did it go out on a kept-alive socket?),
    // not by timing: a new TLS handshake per call is a behaviour, how long it takes is for bench/.
    const sent: ClientRequest[] = [];
    const onRequest = (message: unknown): void => {
      sent.push((message as { request: ClientRequest }).request);
    };
    let obj = await client.create<ConfigMap>(CONFIG_MAPS, ns, cm('fast', { n: '0' }));
    subscribe('http.client.request.start', onRequest);
    try {
      for (let i = 1; i <= 40; i++) {
        obj = await client.replace<ConfigMap>(CONFIG_MAPS, ns, { ...obj, data: { n: String(i) } });
      }
    } finally {
      unsubscribe('http.client.request.start', onRequest);
    }
    expect(obj.data).toEqual({ n: '40' });
    expect((await client.get<ConfigMap>(CONFIG_MAPS, ns, 'fast'))?.data).toEqual({ n: '40' });
    expect(sent.length).toBeGreaterThanOrEqual(40);
    // The create above left a kept-alive socket, so normally every write reuses one; a single new
    // connection is allowed in case the server closed it in between.
    expect(sent.filter((req) => !req.reusedSocket).length).toBeLessThanOrEqual(1);
  });

  it('reports an unreachable server as Unavailable', async () => {
    const unreachable = integrationKubeConfig();
    const cluster = unreachable.getCurrentCluster();
    if (!cluster) throw new Error('no cluster');
    unreachable.clusters = [{ ...cluster, server: 'https://127.0.0.1:1' }];
    const dead = createKubeClient(unreachable);
    const e = await rejection(dead.get(CONFIG_MAPS, ns, 'a'));
    expect(isKubeError(e, 'Unavailable')).toBe(true);
  });
});
