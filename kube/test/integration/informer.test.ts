// The informer against the real API server: sync, events, schema filtering, indexes, re-lists
// after stops, broken watches and a real 410 Gone.
import { jest } from '@jest/globals';
import { EXTENSIONS_API_VERSION, ObjectMeta, SANDBOX_CLAIM_KIND, SandboxClaim } from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import { EventLog, until } from '@sandbank/testing';
import { z } from 'zod';
import { createKubeClient } from '../../src/client.js';
import { createInformer } from '../../src/informer.js';
import { CONFIG_MAPS, SANDBOX_CLAIMS } from '../../src/resources.js';
import { createTransport } from '../../src/transport.js';
import type { Informer, KubeClient } from '../../src/types.js';
import { FaultyTransport } from './faulty-transport.js';
import { captureLogs, createNamespace, deleteNamespace } from './support.js';

// The integration project's testTimeout is not applied per project by jest; set it here.
jest.setTimeout(60_000);

/** ConfigMaps, where `data.valid: "no"` stands for an object the cluster accepts and we reject. */
const ConfigMap = z
  .looseObject({
    apiVersion: z.string().optional(),
    kind: z.string().optional(),
    metadata: ObjectMeta,
    data: z.record(z.string(), z.string()).optional(),
  })
  .refine((cm) => cm.data?.['valid'] !== 'no', { message: 'must not be "no"', path: ['data', 'valid'] });
type ConfigMap = z.infer<typeof ConfigMap>;

const byGroup = (cm: Readonly<ConfigMap>): readonly string[] => {
  const g = cm.metadata.labels?.['group'];
  return g ? [g] : [];
};

const kc = integrationKubeConfig();
const transport = createTransport(kc);
const client: KubeClient = createKubeClient(kc, { transport });
const informers: Informer<never>[] = [];
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(client, 'informer');
});

afterAll(async () => {
  for (const i of informers) i.stop();
  await deleteNamespace(client, ns);
  transport.close();
});

const cm = (name: string, data: Record<string, string> = {}, group?: string): ConfigMap => ({
  metadata: { name, ...(group ? { labels: { group } } : {}) },
  data,
});

function configMapInformer(faulty: FaultyTransport, log = captureLogs().log, pageSize = 500) {
  const informer = createInformer(kc, {
    type: CONFIG_MAPS,
    schema: ConfigMap,
    namespace: ns,
    labelSelector: 'suite=informer',
    indexers: { byGroup },
    log,
    transport: faulty,
    backoffInitialMs: 50,
    pageSize,
  });
  informers.push(informer as unknown as Informer<never>);
  return informer;
}

const labelled = (c: ConfigMap): ConfigMap => ({
  ...c,
  metadata: { ...c.metadata, labels: { ...c.metadata.labels, suite: 'informer' } },
});

describe('informer', () => {
  it('syncs, then delivers add, update and delete; objects are parsed, stripped and frozen', async () => {
    await client.create(CONFIG_MAPS, ns, labelled(cm('a1', { v: '1' }, 'g1')));
    await client.create(CONFIG_MAPS, ns, labelled(cm('a2', { v: '1' }, 'g2')));
    await client.create(CONFIG_MAPS, ns, cm('unlabelled')); // outside the selector

    const faulty = new FaultyTransport(transport);
    const informer = configMapInformer(faulty);
    const events = new EventLog(informer);
    expect(informer.hasSynced()).toBe(false);
    await informer.start();
    expect(informer.hasSynced()).toBe(true);
    expect(events.summary().sort()).toEqual(['add a1', 'add a2']);

    const a1 = informer.get(ns, 'a1');
    expect(a1?.data).toEqual({ v: '1' });
    expect(a1?.metadata.managedFields).toBeUndefined();
    expect(Object.isFrozen(a1)).toBe(true);
    expect(Object.isFrozen(a1?.metadata.labels)).toBe(true);
    expect(
      informer
        .list(ns)
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['a1', 'a2']);
    expect(informer.list('other-namespace')).toEqual([]);
    expect(informer.byIndex('byGroup', 'g1').map((o) => o.metadata.name)).toEqual(['a1']);

    let from = events.events.length;
    await client.create(CONFIG_MAPS, ns, labelled(cm('a3', {}, 'g1')));
    await events.waitFor((e) => e.type === 'add' && e.obj.metadata.name === 'a3', { from, what: 'add a3' });
    expect(
      informer
        .byIndex('byGroup', 'g1')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['a1', 'a3']);

    from = events.events.length;
    await client.mergePatch(CONFIG_MAPS, ns, 'a1', {
      data: { v: '2' },
      metadata: { labels: { group: 'g2' } },
    });
    const update = await events.waitFor((e) => e.type === 'update' && e.obj.metadata.name === 'a1', {
      from,
      what: 'update a1',
    });
    expect(update.type === 'update' ? [update.old.data, update.obj.data] : []).toEqual([
      { v: '1' },
      { v: '2' },
    ]);
    expect(informer.byIndex('byGroup', 'g1').map((o) => o.metadata.name)).toEqual(['a3']);
    expect(
      informer
        .byIndex('byGroup', 'g2')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['a1', 'a2']);

    from = events.events.length;
    await client.delete(CONFIG_MAPS, ns, 'a2');
    await events.waitFor((e) => e.type === 'delete' && e.obj.metadata.name === 'a2', {
      from,
      what: 'delete a2',
    });
    expect(informer.get(ns, 'a2')).toBeUndefined();
    expect(informer.byIndex('byGroup', 'g2').map((o) => o.metadata.name)).toEqual(['a1']);
    expect(events.summary(from)).toEqual(['delete a2']);
    informer.stop();
  });

  it('skips objects its schema rejects, logs each bad version once, and follows them when they change', async () => {
    const { log, lines } = captureLogs();
    const faulty = new FaultyTransport(transport);
    const informer = configMapInformer(faulty, log);
    const events = new EventLog(informer);
    await informer.start();
    const badLogs = (): number => lines.filter((l) => l['name'] === 'bad' && l['level'] === 'warn').length;

    await client.create(CONFIG_MAPS, ns, labelled(cm('bad', { valid: 'no' })));
    await client.create(CONFIG_MAPS, ns, labelled(cm('marker-1')));
    await events.waitFor((e) => e.obj.metadata.name === 'marker-1', { what: 'marker-1' }); // events are ordered
    expect(informer.get(ns, 'bad')).toBeUndefined();
    expect(badLogs()).toBe(1);
    expect(lines.find((l) => l['name'] === 'bad')?.['problems']).toBe('data.valid: must not be "no"');

    // A re-list sees the same version: not logged again.
    informer.stop();
    await informer.start();
    expect(badLogs()).toBe(1);

    // A new invalid version is logged once more.
    await client.mergePatch(CONFIG_MAPS, ns, 'bad', { data: { other: 'x' } });
    await client.create(CONFIG_MAPS, ns, labelled(cm('marker-2')));
    await events.waitFor((e) => e.obj.metadata.name === 'marker-2', { what: 'marker-2' });
    expect(badLogs()).toBe(2);

    // Fixed: it appears. Broken again: it disappears from the cache with a delete event.
    let from = events.events.length;
    await client.mergePatch(CONFIG_MAPS, ns, 'bad', { data: { valid: 'yes' } });
    await events.waitFor((e) => e.type === 'add' && e.obj.metadata.name === 'bad', { from, what: 'add bad' });
    from = events.events.length;
    await client.mergePatch(CONFIG_MAPS, ns, 'bad', { data: { valid: 'no' } });
    await events.waitFor((e) => e.type === 'delete' && e.obj.metadata.name === 'bad', {
      from,
      what: 'delete bad',
    });
    expect(informer.get(ns, 'bad')).toBeUndefined();
    informer.stop();
  });

  it('re-lists on restart and emits what changed while it was stopped, deletions included', async () => {
    for (const name of ['r1', 'r2', 'r3']) await client.create(CONFIG_MAPS, ns, labelled(cm(name, {}, 'rg')));
    const faulty = new FaultyTransport(transport);
    const informer = configMapInformer(faulty);
    const events = new EventLog(informer);
    await informer.start();
    expect(informer.byIndex('byGroup', 'rg')).toHaveLength(3);

    informer.stop();
    const listsBefore = faulty.lists;
    await client.delete(CONFIG_MAPS, ns, 'r1');
    await client.mergePatch(CONFIG_MAPS, ns, 'r2', { data: { changed: 'yes' } });
    await client.create(CONFIG_MAPS, ns, labelled(cm('r4', {}, 'rg')));

    const from = events.events.length;
    await informer.start();
    expect(faulty.lists).toBe(listsBefore + 1);
    expect(events.summary(from).sort()).toEqual(['add r4', 'delete r1', 'update r2']);
    expect(
      informer
        .byIndex('byGroup', 'rg')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['r2', 'r3', 'r4']);
    expect(informer.hasSynced()).toBe(true);
    informer.stop();
  });

  it('restarts the watch with backoff after any error and misses nothing', async () => {
    const { log, lines } = captureLogs();
    const faulty = new FaultyTransport(transport);
    const informer = configMapInformer(faulty, log);
    const events = new EventLog(informer);
    await informer.start();
    await faulty.watching();
    const watchesBefore = faulty.watches;

    faulty.pause(); // the watch fails; new ones are held back
    await client.create(CONFIG_MAPS, ns, labelled(cm('during-outage')));
    await client.delete(CONFIG_MAPS, ns, 'r3');
    faulty.resume();
    await events.waitFor((e) => e.type === 'add' && e.obj.metadata.name === 'during-outage', {
      what: 'add during-outage',
    });
    await events.waitFor((e) => e.type === 'delete' && e.obj.metadata.name === 'r3', { what: 'delete r3' });
    expect(faulty.watches).toBeGreaterThan(watchesBefore);
    expect(lines.some((l) => l['msg'] === 'list/watch failed; retrying' && l['kind'] === 'Unavailable')).toBe(
      true,
    );

    // Watching again after the failure.
    const from = events.events.length;
    await client.create(CONFIG_MAPS, ns, labelled(cm('after-outage')));
    await events.waitFor((e) => e.obj.metadata.name === 'after-outage', { from, what: 'add after-outage' });
    informer.stop();
  });

  it('pages through thousands of objects, keeps indexes exact, and a no-change re-list emits nothing', async () => {
    const bulkNs = await createNamespace(client, 'informer-bulk');
    try {
      const n = 1500;
      const names = Array.from({ length: n }, (_, i) => `bulk-${i}`);
      for (let i = 0; i < n; i += 50) {
        await Promise.all(
          names
            .slice(i, i + 50)
            .map((name, j) =>
              client.create(CONFIG_MAPS, bulkNs, labelled(cm(name, {}, `bg-${(i + j) % 7}`))),
            ),
        );
      }
      const faulty = new FaultyTransport(transport);
      const informer = createInformer(kc, {
        type: CONFIG_MAPS,
        schema: ConfigMap,
        namespace: bulkNs,
        labelSelector: 'suite=informer',
        indexers: { byGroup },
        log: captureLogs().log,
        transport: faulty,
        pageSize: 200,
      });
      informers.push(informer as unknown as Informer<never>);
      const events = new EventLog(informer);
      const started = performance.now();
      await informer.start();
      const syncMs = performance.now() - started;
      expect(informer.list(bulkNs)).toHaveLength(n);
      expect(faulty.lists).toBe(Math.ceil(n / 200));
      expect(informer.byIndex('byGroup', 'bg-3')).toHaveLength(names.filter((_, i) => i % 7 === 3).length);
      expect(syncMs).toBeLessThan(10_000);

      informer.stop();
      const from = events.events.length;
      await informer.start();
      expect(events.events.length).toBe(from);
      informer.stop();
    } finally {
      await deleteNamespace(client, bulkNs);
    }
  });
});

describe('informer on a custom resource', () => {
  it('re-lists after a real 410 Gone and reports what happened while disconnected', async () => {
    const { log, lines } = captureLogs();
    const faulty = new FaultyTransport(transport);
    const informer = createInformer(kc, {
      type: SANDBOX_CLAIMS,
      schema: SandboxClaim,
      namespace: ns,
      log,
      transport: faulty,
      backoffInitialMs: 50,
    });
    informers.push(informer as unknown as Informer<never>);
    const events = new EventLog(informer);
    const claim = (name: string): SandboxClaim => ({
      apiVersion: EXTENSIONS_API_VERSION,
      kind: SANDBOX_CLAIM_KIND,
      metadata: { name },
      spec: { warmPoolRef: { name: 't' } },
    });
    await client.create(SANDBOX_CLAIMS, ns, claim('keep'));
    await client.create(SANDBOX_CLAIMS, ns, claim('gone'));
    await informer.start();
    expect(events.summary().sort()).toEqual(['add gone', 'add keep']);
    expect(informer.get(ns, 'keep')?.spec.warmPoolRef?.name).toBe('t');

    await faulty.watching();
    faulty.pause();
    await client.delete(SANDBOX_CLAIMS, ns, 'gone');
    await client.create(SANDBOX_CLAIMS, ns, claim('new'));
    const listsBefore = faulty.lists;
    const from = events.events.length;
    // The custom resource's watch cache starts long after revision 1: the server answers 410.
    faulty.resume({ fromResourceVersion: '1' });
    await until(
      informer,
      () => informer.get(ns, 'new') !== undefined && informer.get(ns, 'gone') === undefined,
      15_000,
      'the re-list diff',
    );
    expect(events.summary(from).sort()).toEqual(['add new', 'delete gone']);
    expect(faulty.lists).toBe(listsBefore + 1);
    expect(lines.some((l) => l['msg'] === 'watch resourceVersion expired; re-listing')).toBe(true);

    // And it keeps watching from the fresh list.
    const after = events.events.length;
    await client.mergePatch(SANDBOX_CLAIMS, ns, 'keep', { metadata: { labels: { touched: 'yes' } } });
    await events.waitFor((e) => e.type === 'update' && e.obj.metadata.name === 'keep', {
      from: after,
      what: 'update keep',
    });
    informer.stop();
  });
});
