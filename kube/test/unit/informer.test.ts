// The informer's list/watch loop against a scripted API server on loopback: paging, resuming
// from the last resourceVersion, 410 → re-list, backoff for a watch that ends at once, and the
// stored identity every cached object must have.
import { ObjectMeta } from '@sandbank/api';
import { z } from 'zod';
import { createKubeClient } from '../../src/client.js';
import type { KubeError } from '../../src/errors.js';
import { createInformer } from '../../src/informer.js';
import type { Logger } from '../../src/logger.js';
import { CONFIG_MAPS } from '../../src/resources.js';
import { createTransport } from '../../src/transport.js';
import type { KubeTransport } from '../../src/transport.js';
import type { Informer } from '../../src/types.js';
import { configMap, startFakeApiServer } from './fake-apiserver.js';
import type { FakeApiServer, FakeApiServerOptions } from './fake-apiserver.js';

const ConfigMap = z.looseObject({ metadata: ObjectMeta, data: z.record(z.string(), z.string()).optional() });

const silent: Logger = {
  child: () => silent,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let server: FakeApiServer | undefined;
let transport: KubeTransport | undefined;
let informer: Informer<z.infer<typeof ConfigMap>> | undefined;

afterEach(async () => {
  informer?.stop();
  transport?.close();
  await server?.close();
  informer = transport = server = undefined;
});

async function start(
  script: FakeApiServerOptions,
  opts: { pageSize?: number; backoffInitialMs?: number; backoffMaxMs?: number } = {},
): Promise<{ server: FakeApiServer; informer: Informer<z.infer<typeof ConfigMap>>; errors: KubeError[] }> {
  server = await startFakeApiServer(script);
  transport = createTransport(server.kc);
  const errors: KubeError[] = [];
  informer = createInformer(server.kc, {
    type: CONFIG_MAPS,
    schema: ConfigMap,
    namespace: 'ns',
    log: silent,
    transport,
    onError: (err) => errors.push(err),
    ...opts,
  });
  await informer.start();
  return { server, informer, errors };
}

/** Resolves once `predicate` holds, checking every 10 ms; fails the test after `timeoutMs`. */
async function eventually(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const hold = { events: [], then: 'hold' } as const;

describe('informer list/watch loop', () => {
  it('lists page by page with limit and continue', async () => {
    const items = Array.from({ length: 7 }, (_, i) => configMap(`cm-${i}`, String(i + 1)));
    const { server, informer } = await start(
      { lists: [{ items, resourceVersion: '7' }], watches: [hold] },
      { pageSize: 3 },
    );
    expect(informer.list('ns')).toHaveLength(7);
    expect(server.lists().map((r) => [r.query.get('limit'), r.query.get('continue')])).toEqual([
      ['3', null],
      ['3', '3'],
      ['3', '6'],
    ]);
    await eventually(() => server.watches().length === 1, 'the watch');
    expect(server.watches()[0]?.query.get('resourceVersion')).toBe('7');
  });

  it('resumes a watch the server ended from the last resourceVersion seen, bookmarks included', async () => {
    const { server, informer } = await start({
      lists: [{ items: [configMap('a', '10')], resourceVersion: '10' }],
      watches: [
        {
          events: [
            { type: 'ADDED', object: configMap('b', '11') },
            { type: 'BOOKMARK', object: { kind: 'ConfigMap', metadata: { resourceVersion: '15' } } },
          ],
          then: 'end',
        },
        hold,
      ],
    });
    await eventually(() => server.watches().length === 2, 'the second watch');
    expect(server.watches().map((w) => w.query.get('resourceVersion'))).toEqual(['10', '15']);
    expect(server.watches().every((w) => w.query.get('allowWatchBookmarks') === 'true')).toBe(true);
    expect(server.lists()).toHaveLength(1);
    expect(informer.get('ns', 'b')?.metadata.resourceVersion).toBe('11');
  });

  it('re-lists after 410 Gone in the watch and reports what changed meanwhile', async () => {
    const deleted: string[] = [];
    const { server, informer, errors } = await start({
      lists: [
        { items: [configMap('a', '10'), configMap('b', '10')], resourceVersion: '10' },
        { items: [configMap('a', '10')], resourceVersion: '30' },
      ],
      watches: [
        {
          events: [
            { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } },
          ],
          then: 'end',
        },
        hold,
      ],
    });
    informer.onEvent((e) => {
      if (e.type === 'delete') deleted.push(e.obj.metadata.name);
    });
    await eventually(() => server.watches().length === 2, 'the watch after the re-list');
    expect(server.lists()).toHaveLength(2);
    expect(server.watches()[1]?.query.get('resourceVersion')).toBe('30');
    expect(deleted).toEqual(['b']);
    expect(errors.map((e) => e.kind)).toEqual(['Gone']);
    expect(informer.list('ns').map((o) => o.metadata.name)).toEqual(['a']);
  });

  it('retries a watch that ends at once with backoff, not in a hot loop', async () => {
    const { server, errors } = await start(
      {
        lists: [{ items: [configMap('a', '10')], resourceVersion: '10' }],
        watches: [{ events: [], then: 'end' }],
      },
      { backoffInitialMs: 100, backoffMaxMs: 400 },
    );
    await eventually(() => server.watches().length >= 5, 'five watches', 10_000);
    const watches = server.watches();
    // Each retry waits its backoff — 100, 200, 400, 400 ms — or longer on a busy machine, never
    // less: a hot loop would send the next watch within a millisecond or two.
    const first = watches[0]?.at ?? 0;
    for (let i = 1; i < 5; i++) {
      const gap = (watches[i]?.at ?? 0) - (watches[i - 1]?.at ?? 0);
      expect(gap).toBeGreaterThanOrEqual(0.9 * Math.min(100 * 2 ** (i - 1), 400));
    }
    expect(watches.filter((w) => w.at - first < 1_000).length).toBeLessThanOrEqual(4);
    // Each retry resumes where the list left off: nothing was missed, so nothing is re-listed.
    expect(server.lists()).toHaveLength(1);
    expect(new Set(watches.map((w) => w.query.get('resourceVersion')))).toEqual(new Set(['10']));
    expect(errors.every((e) => e.kind === 'Unavailable' && e.message.includes('watch ended at once'))).toBe(
      true,
    );
  });

  it('keeps only objects with a stored identity: no uid or resourceVersion means absent', async () => {
    const noUid = { metadata: { name: 'no-uid', namespace: 'ns', resourceVersion: '3' } };
    const noVersion = { metadata: { name: 'no-rv', namespace: 'ns', uid: 'u' } };
    const { server, informer } = await start({
      lists: [{ items: [configMap('ok', '2'), noUid, noVersion], resourceVersion: '3' }],
      watches: [
        {
          events: [{ type: 'ADDED', object: { metadata: { name: 'late', namespace: 'ns' } } }],
          then: 'hold',
        },
      ],
    });
    await eventually(() => server.watches().length === 1, 'the watch');
    await sleep(50);
    expect(informer.list('ns').map((o) => o.metadata.name)).toEqual(['ok']);
  });
});

describe('client list', () => {
  it('reads every page and checks each item for its stored identity', async () => {
    const items = Array.from({ length: 1_200 }, (_, i) => configMap(`cm-${i}`, String(i + 1)));
    server = await startFakeApiServer({ lists: [{ items, resourceVersion: '1200' }], watches: [hold] });
    transport = createTransport(server.kc);
    const client = createKubeClient(server.kc, { transport });
    const listed = await client.list(CONFIG_MAPS, 'ns');
    expect(listed.items).toHaveLength(1_200);
    expect(listed.resourceVersion).toBe('1200');
    expect(server.lists().map((r) => r.query.get('continue'))).toEqual([null, '500', '1000']);
  });

  it('fails on an item without its stored identity instead of returning it', async () => {
    const anonymous = { metadata: { name: 'x', namespace: 'ns' } };
    server = await startFakeApiServer({
      lists: [{ items: [anonymous], resourceVersion: '1' }],
      watches: [hold],
    });
    transport = createTransport(server.kc);
    const client = createKubeClient(server.kc, { transport });
    await expect(client.list(CONFIG_MAPS, 'ns')).rejects.toThrow(/lacks its name, uid or resourceVersion/);
  });
});
