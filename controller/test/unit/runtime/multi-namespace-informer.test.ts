/**
 * The view a namespace-scoped controller's reconcilers read: one informer per watched namespace,
 * seen as one cache. Reads go to the informer of the object's namespace, lists and indexes join
 * them, events of every namespace reach the handlers, and it is synced only when all are.
 */
import type { Stored } from '@sandbank/api';
import type { Informer, InformerEvent, KubeObject } from '@sandbank/kube';
import { multiNamespaceInformer } from '../../../src/runtime/multi-namespace-informer.js';

type Obj = Stored<KubeObject>;

function obj(namespace: string, name: string, label = ''): Obj {
  return {
    metadata: { namespace, name, uid: `${namespace}-${name}`, resourceVersion: '1', labels: { label } },
  };
}

/** An informer of one namespace over a fixed list; the test emits events and settles start(). */
class FakeInformer implements Informer<KubeObject> {
  readonly handlers: ((event: InformerEvent<Obj>) => void)[] = [];
  synced = false;
  started = 0;
  stopped = 0;
  private settle: () => void = () => {};
  constructor(
    readonly namespace: string,
    readonly objects: Obj[],
  ) {}
  get(namespace: string, name: string): Obj | undefined {
    return this.objects.find((o) => o.metadata.namespace === namespace && o.metadata.name === name);
  }
  list(namespace?: string): readonly Obj[] {
    return this.objects.filter((o) => namespace === undefined || o.metadata.namespace === namespace);
  }
  byIndex(index: string, value: string): readonly Obj[] {
    if (index !== 'label') throw new Error(`no index named ${index}`);
    return this.objects.filter((o) => o.metadata.labels?.['label'] === value);
  }
  hasSynced(): boolean {
    return this.synced;
  }
  onEvent(handler: (event: InformerEvent<Obj>) => void): void {
    this.handlers.push(handler);
  }
  start(): Promise<void> {
    this.started++;
    return new Promise((resolve) => (this.settle = resolve));
  }
  stop(): void {
    this.stopped++;
  }
  listed(): void {
    this.synced = true;
    this.settle();
  }
  emit(event: InformerEvent<Obj>): void {
    for (const handler of this.handlers) handler(event);
  }
}

/**
 * The wrong-namespace answers a per-namespace informer could give are planted on purpose: a
 * real one never holds another namespace's object, so a read must not ask it.
 */
function setup() {
  const a = new FakeInformer('team-a', [obj('team-a', 'x', 'red'), obj('team-a', 'y', 'blue')]);
  const b = new FakeInformer('team-b', [obj('team-b', 'x', 'red')]);
  const merged = multiNamespaceInformer(
    new Map<string, Informer<KubeObject>>([
      ['team-a', a],
      ['team-b', b],
    ]),
  );
  return { a, b, merged };
}

describe('multiNamespaceInformer', () => {
  it('reads an object from the informer of its own namespace only', () => {
    const { a, merged } = setup();
    expect(merged.get('team-a', 'x')?.metadata.uid).toBe('team-a-x');
    expect(merged.get('team-b', 'x')?.metadata.uid).toBe('team-b-x');
    expect(merged.get('team-b', 'y')).toBeUndefined();
    // An unwatched namespace has no informer: nothing, even if some cache held such an object.
    a.objects.push(obj('team-c', 'x'));
    expect(merged.get('team-c', 'x')).toBeUndefined();
    expect(merged.list('team-c')).toEqual([]);
  });

  it('lists one namespace from its informer, and all of them joined', () => {
    const { merged } = setup();
    expect(merged.list('team-a').map((o) => o.metadata.uid)).toEqual(['team-a-x', 'team-a-y']);
    expect(merged.list('team-b').map((o) => o.metadata.uid)).toEqual(['team-b-x']);
    expect(
      merged
        .list()
        .map((o) => o.metadata.uid)
        .sort(),
    ).toEqual(['team-a-x', 'team-a-y', 'team-b-x']);
  });

  it('joins index lookups across namespaces', () => {
    const { merged } = setup();
    expect(
      merged
        .byIndex('label', 'red')
        .map((o) => o.metadata.uid)
        .sort(),
    ).toEqual(['team-a-x', 'team-b-x']);
    expect(merged.byIndex('label', 'green')).toEqual([]);
  });

  it('hands every namespace’s events to each handler', () => {
    const { a, b, merged } = setup();
    const seen: string[] = [];
    merged.onEvent((e) => seen.push(`${e.type} ${e.obj.metadata.uid}`));
    a.emit({ type: 'add', obj: obj('team-a', 'z') });
    b.emit({ type: 'delete', obj: obj('team-b', 'x') });
    expect(seen).toEqual(['add team-a-z', 'delete team-b-x']);
  });

  it('starts every informer, and is started and synced only when all have listed', async () => {
    const { a, b, merged } = setup();
    let started = false;
    const starting = merged.start().then(() => (started = true));
    expect([a.started, b.started]).toEqual([1, 1]);
    a.listed();
    await Promise.resolve();
    await Promise.resolve();
    expect(started).toBe(false);
    expect(merged.hasSynced()).toBe(false);
    b.listed();
    await starting;
    expect(started).toBe(true);
    expect(merged.hasSynced()).toBe(true);
    merged.stop();
    expect([a.stopped, b.stopped]).toEqual([1, 1]);
  });

  it('refuses an empty set of namespaces (that would be a controller that watches nothing)', () => {
    expect(() => multiNamespaceInformer(new Map())).toThrow(/at least one namespace/);
  });
});
