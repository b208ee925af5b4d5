import { ObjectMeta, isStored, storedSchema } from '@sandbank/api';
import { z } from 'zod';

const Thing = z.looseObject({ metadata: ObjectMeta, spec: z.looseObject({ size: z.number() }) });

const identity = { name: 'a', namespace: 'ns', uid: 'u-1', resourceVersion: '7' };
const thing = (metadata: Record<string, unknown>) => ({ metadata, spec: { size: 1 } });
const without = (meta: Record<string, string>, field: string): Record<string, string> =>
  Object.fromEntries(Object.entries(meta).filter(([k]) => k !== field));

describe('storedSchema', () => {
  const namespaced = storedSchema(Thing, true);
  const clusterScoped = storedSchema(Thing, false);

  it('accepts an object with its full identity and keeps every field', () => {
    const parsed = namespaced.parse(thing({ ...identity, labels: { l: 'v' } }));
    expect(parsed.metadata).toEqual({ ...identity, labels: { l: 'v' } });
    expect(parsed.spec.size).toBe(1);
  });

  it.each(['uid', 'resourceVersion', 'name', 'namespace'] as const)(
    'rejects a namespaced object without metadata.%s, at that path',
    (field) => {
      const result = namespaced.safeParse(thing(without(identity, field)));
      expect(result.success).toBe(false);
      expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual([`metadata.${field}`]);
    },
  );

  it('rejects empty identity fields as it rejects missing ones', () => {
    const result = namespaced.safeParse(thing({ ...identity, uid: '', resourceVersion: '' }));
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual([
      'metadata.uid',
      'metadata.resourceVersion',
    ]);
  });

  it('does not ask a cluster-scoped object for a namespace, but for everything else', () => {
    const clusterIdentity = without(identity, 'namespace');
    expect(clusterScoped.safeParse(thing(clusterIdentity)).success).toBe(true);
    expect(clusterScoped.safeParse(thing(without(clusterIdentity, 'uid'))).success).toBe(false);
  });

  it('still applies the schema itself', () => {
    expect(namespaced.safeParse({ metadata: identity, spec: { size: 'big' } }).success).toBe(false);
  });
});

describe('isStored', () => {
  it('tells a body about to be written from an object read back', () => {
    expect(isStored(thing({ name: 'a', namespace: 'ns' }), true)).toBe(false);
    expect(isStored(thing(identity), true)).toBe(true);
  });
});
