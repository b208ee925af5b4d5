/**
 * The watches the four reconcilers declare, wired to in-memory informers: which informer event
 * queues which key on which controller, and the event hooks (pool expectations).
 */
import { keyOf, type ObjectMeta, type Pod, type Sandbox, type Stored } from '@sandbank/api';
import type { EventRecorder, Indexer, Informer, InformerEvent, KubeClient, KubeObject } from '@sandbank/kube';
import { createMetrics } from '../../../src/observability/metrics.js';
import type { Caches, Informers, ReconcilerDeps } from '../../../src/reconcilers/deps.js';
import {
  Index,
  byClaimUid,
  byControllerUid,
  byTemplateHash,
  byTemplateName,
  byUid,
} from '../../../src/reconcilers/indexes.js';
import type { Reconciler } from '../../../src/reconcilers/reconciler.js';
import { DEFAULT_SANDBOX_PROFILE } from '../../../src/reconcilers/shared/pure-profile.js';
import { createSandboxReconciler } from '../../../src/reconcilers/sandbox/index.js';
import { createClaimReconciler } from '../../../src/reconcilers/sandbox-claim/index.js';
import { createTemplateReconciler } from '../../../src/reconcilers/sandbox-template/index.js';
import { createPoolReconciler } from '../../../src/reconcilers/sandbox-warm-pool/index.js';
import { wireWatches } from '../../../src/reconcilers/wiring.js';
import type { Controller } from '../../../src/runtime/controller.js';
import { Expectations } from '../../../src/runtime/expectations.js';
import { NS, T0, claim, claimedSandbox, member, pool, template } from '../../fixtures/builders.js';

/** An informer over a fixed list, whose events the test emits by hand. */
class FakeInformer<T extends KubeObject> implements Informer<T> {
  private readonly handlers: ((event: InformerEvent<Stored<T>>) => void)[] = [];
  constructor(
    private readonly objects: readonly Stored<T>[] = [],
    private readonly indexers: Readonly<Record<string, Indexer<Stored<T>>>> = {},
  ) {}
  get(namespace: string, name: string): Stored<T> | undefined {
    return this.objects.find((o) => o.metadata.namespace === namespace && o.metadata.name === name);
  }
  list(): readonly Stored<T>[] {
    return this.objects;
  }
  byIndex(index: string, value: string): readonly Stored<T>[] {
    const indexer = this.indexers[index];
    return indexer ? this.objects.filter((o) => indexer(o).includes(value)) : [];
  }
  hasSynced(): boolean {
    return true;
  }
  onEvent(handler: (event: InformerEvent<Stored<T>>) => void): void {
    this.handlers.push(handler);
  }
  async start(): Promise<void> {}
  stop(): void {}
  emit(event: InformerEvent<Stored<T>>): void {
    for (const handler of this.handlers) handler(event);
  }
}

/** A controller that only records the keys queued on it. */
function recorder(name: string): Controller & { readonly keys: Set<string> } {
  const keys = new Set<string>();
  return {
    name,
    keys,
    enqueue: (key) => keys.add(key),
    enqueueAfter: (key) => keys.add(key),
    start: () => undefined,
    stop: async () => {},
    queueDepth: () => keys.size,
  };
}

/** For the dependencies the wiring must never touch: any use throws. */
const unused: ProxyHandler<object> = {
  get: (_target, property) => {
    throw new Error(`${String(property)} is not used by the wiring`);
  },
};

const tpl = template('python');
const warm = pool('warm', tpl, 2);
const c1 = claim('c1', tpl);

function owned<T extends { metadata: ObjectMeta }>(obj: Stored<T>, owner: Stored<KubeObject>, kind: string) {
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      ownerReferences: [
        { apiVersion: 'v1', kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true },
      ],
    },
  };
}

function setup() {
  const informers = {
    claims: new FakeInformer([c1], { [Index.uid]: byUid }),
    sandboxes: new FakeInformer<Sandbox>(),
    templates: new FakeInformer([tpl]),
    pools: new FakeInformer([warm], { [Index.templateName]: byTemplateName }),
    pods: new FakeInformer<Pod>([], {
      [Index.controllerUid]: byControllerUid,
      [Index.claimUid]: byClaimUid,
      [Index.templateHash]: byTemplateHash,
    }),
    services: new FakeInformer(),
    networkPolicies: new FakeInformer(),
    persistentVolumeClaims: new FakeInformer(),
  } satisfies Informers;
  const caches: Caches = informers;
  const deps: ReconcilerDeps = {
    caches,
    client: new Proxy<KubeClient>({} as KubeClient, unused),
    events: new Proxy<EventRecorder>({} as EventRecorder, unused),
    metrics: createMetrics(),
    poolExpectations: new Expectations(),
    now: () => T0,
    router: { podLabels: { app: 'router' }, namespaces: ['.'] },
    clusterDomain: 'cluster.local',
    profileOf: () => DEFAULT_SANDBOX_PROFILE,
  };
  const wire = (r: Reconciler) => {
    const controller = recorder(r.name);
    wireWatches(informers, r.watches, controller);
    return controller;
  };
  const controllers = {
    claims: wire(createClaimReconciler(deps)),
    sandboxes: wire(createSandboxReconciler(deps)),
    pools: wire(createPoolReconciler(deps)),
    templates: wire(createTemplateReconciler(deps)),
  };
  /** What `emit` queued, per controller. */
  const queuedBy = (emit: () => void): Record<keyof typeof controllers, string[]> => {
    for (const controller of Object.values(controllers)) controller.keys.clear();
    emit();
    const keys = (name: keyof typeof controllers) => [...controllers[name].keys].sort();
    return {
      claims: keys('claims'),
      sandboxes: keys('sandboxes'),
      pools: keys('pools'),
      templates: keys('templates'),
    };
  };
  return { informers, deps, queuedBy };
}

const key = (name: string) => `${NS}/${name}`;
const none = { claims: [], sandboxes: [], pools: [], templates: [] };

describe('declared watches', () => {
  it('For: each kind queues its own key, deletions included', () => {
    const { informers, queuedBy } = setup();
    expect(queuedBy(() => informers.claims.emit({ type: 'delete', obj: c1 }))).toEqual({
      ...none,
      claims: [key('c1')],
    });
    expect(queuedBy(() => informers.pools.emit({ type: 'add', obj: warm }))).toEqual({
      ...none,
      pools: [key('warm')],
    });
    const other = template('node');
    expect(queuedBy(() => informers.templates.emit({ type: 'add', obj: other }))).toEqual({
      ...none,
      templates: [key('node')],
    });
  });

  it('Owns: a child queues its controller owner of the reconciler kind, the old owner too', () => {
    const { informers, queuedBy } = setup();
    const sandbox = claimedSandbox(c1);
    expect(queuedBy(() => informers.sandboxes.emit({ type: 'add', obj: sandbox }))).toEqual({
      ...none,
      claims: [key('c1')],
      sandboxes: [key('c1')],
    });
    const service = owned({ metadata: sandbox.metadata }, sandbox, 'Sandbox');
    expect(queuedBy(() => informers.services.emit({ type: 'add', obj: service }))).toEqual({
      ...none,
      sandboxes: [key('c1')],
    });
    const policy = owned({ metadata: { ...tpl.metadata, name: 'np' } }, tpl, 'SandboxTemplate');
    expect(queuedBy(() => informers.networkPolicies.emit({ type: 'add', obj: policy }))).toEqual({
      ...none,
      templates: [key('python')],
    });
  });

  it('a bind moves a Pod from its pool to the claim, and the Sandbox named after the claim hears of it', () => {
    const { informers, queuedBy } = setup();
    const poolPod = member('warm-a', warm, tpl);
    const bound = owned(poolPod, c1, 'SandboxClaim');
    expect(queuedBy(() => informers.pods.emit({ type: 'update', obj: bound, old: poolPod }))).toEqual({
      claims: [key('c1')],
      sandboxes: [key('c1')],
      pools: [key('warm')],
      templates: [],
    });
  });

  it("Watches: a Pod's claim-uid label queues its claim; a template edit queues its pools", () => {
    const { informers, queuedBy } = setup();
    const elsewhere = { metadata: { name: 'sbx-x', namespace: NS, uid: 'sbx-x-uid', resourceVersion: '1' } };
    const labelled = owned(member('warm-a', warm, tpl, { claimUid: c1.metadata.uid }), elsewhere, 'Sandbox');
    expect(queuedBy(() => informers.pods.emit({ type: 'add', obj: labelled }))).toEqual({
      ...none,
      claims: [key('c1')],
      sandboxes: [key('sbx-x')],
    });
    expect(queuedBy(() => informers.templates.emit({ type: 'update', obj: tpl, old: tpl }))).toEqual({
      ...none,
      pools: [key('warm')],
      templates: [key('python')],
    });
  });

  it('hooks: pool Pods seen in the cache satisfy the pool’s expectations', () => {
    const { informers, deps } = setup();
    const poolKey = keyOf(warm);
    const a = member('warm-a', warm, tpl);
    deps.poolExpectations.expectCreations(poolKey, 1);
    deps.poolExpectations.expectDeletion(poolKey, member('warm-b', warm, tpl).metadata.uid);
    informers.pods.emit({ type: 'add', obj: a });
    expect(deps.poolExpectations.satisfied(poolKey)).toBe(false);
    informers.pods.emit({ type: 'delete', obj: member('warm-b', warm, tpl) });
    expect(deps.poolExpectations.satisfied(poolKey)).toBe(true);
  });

  it('ignores children whose controller is of another kind', () => {
    const { informers, queuedBy } = setup();
    const pod = owned(member('warm-a', warm, tpl), tpl, 'SandboxTemplate');
    expect(queuedBy(() => informers.pods.emit({ type: 'add', obj: pod }))).toEqual(none);
  });
});
