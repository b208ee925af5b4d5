import type { Stored } from '@sandbank/api';
import { Store, objectKey } from '../../src/store.js';
import type { KubeObject } from '../../src/types.js';

type Pod = Stored<KubeObject>;

const pod = (ns: string, name: string, pool?: string, rv = '1'): Pod => ({
  metadata: {
    namespace: ns,
    name,
    uid: `uid-${ns}-${name}`,
    resourceVersion: rv,
    ...(pool ? { labels: { pool } } : {}),
  },
});

const byPool = (o: Readonly<Pod>): readonly string[] => {
  const p = o.metadata.labels?.['pool'];
  return p ? [`${o.metadata.namespace}/${p}`] : [];
};

describe('Store', () => {
  it('gets and lists by key and namespace', () => {
    const s = new Store<Pod>();
    s.upsert(pod('a', 'p1'));
    s.upsert(pod('a', 'p2'));
    s.upsert(pod('b', 'p1'));
    expect(s.get('a', 'p1')?.metadata.namespace).toBe('a');
    expect(s.get('c', 'p1')).toBeUndefined();
    expect(s.list().length).toBe(3);
    expect(s.list('a').map((o) => o.metadata.name)).toEqual(['p1', 'p2']);
    expect(s.list('zzz')).toEqual([]);
    expect(s.getByKey(objectKey('b', 'p1'))).toBeDefined();
    expect(objectKey('', 'cluster-scoped')).toBe('cluster-scoped');
  });

  it('keeps indexes in step with updates and removals', () => {
    const s = new Store<Pod>({ byPool });
    s.upsert(pod('ns', 'p1', 'x'));
    s.upsert(pod('ns', 'p2', 'x'));
    s.upsert(pod('ns', 'p3', 'y'));
    expect(
      s
        .byIndex('byPool', 'ns/x')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['p1', 'p2']);

    const old = s.upsert(pod('ns', 'p1', 'y', '2')); // moved to another pool
    expect(old?.metadata.resourceVersion).toBe('1');
    expect(s.byIndex('byPool', 'ns/x').map((o) => o.metadata.name)).toEqual(['p2']);
    expect(
      s
        .byIndex('byPool', 'ns/y')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['p1', 'p3']);

    s.upsert(pod('ns', 'p2', undefined, '2')); // left every pool
    expect(s.byIndex('byPool', 'ns/x')).toEqual([]);

    expect(s.remove('ns/p3')?.metadata.name).toBe('p3');
    expect(s.remove('ns/p3')).toBeUndefined();
    expect(s.byIndex('byPool', 'ns/y').map((o) => o.metadata.name)).toEqual(['p1']);
    expect(s.list('ns').length).toBe(2);
  });

  it('throws on an unknown index name', () => {
    expect(() => new Store<Pod>({ byPool }).byIndex('bypool', 'x')).toThrow(/no index named "bypool"/);
  });

  it('survives a throwing indexer and reports it', () => {
    const errors: string[] = [];
    const s = new Store<Pod>(
      {
        bad: () => {
          throw new Error('nope');
        },
      },
      (index) => errors.push(index),
    );
    s.upsert(pod('ns', 'p'));
    expect(s.size).toBe(1);
    expect(errors).toEqual(['bad']);
  });

  it('handles thousands of objects in linear time', () => {
    const s = new Store<Pod>({ byPool });
    const n = 20_000;
    const start = performance.now();
    for (let i = 0; i < n; i++) s.upsert(pod('ns', `p${i}`, `pool${i % 10}`));
    for (let i = 0; i < n; i++) s.upsert(pod('ns', `p${i}`, `pool${(i + 1) % 10}`, '2'));
    for (let i = 1; i < n; i += 2) s.remove(`ns/p${i}`);
    const ms = performance.now() - start;
    expect(s.size).toBe(n / 2);
    expect(s.byIndex('byPool', 'ns/pool1').length).toBe(n / 10); // even i with i % 10 === 0
    // Quadratic work on 20k objects would take minutes; linear takes tens of milliseconds.
    expect(ms).toBeLessThan(2_000);
  });
});
