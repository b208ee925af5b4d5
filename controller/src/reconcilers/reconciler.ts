/**
 * The one shape of a reconciler: `observe` reads the caches for a key, `plan` decides (pure),
 * `apply` carries the plan out; the plan says when to look again. Its watches declare which
 * informer events queue which keys, like controller-runtime's builder: `For` the primary kind,
 * `Owns` the kinds it creates (mapped to their controller owner), `Watches` anything else with a
 * mapping function.
 */
import { controllerOf, parseKey, type ObjectKey, type ObjectMeta, type Stored } from '@sandbank/api';
import type { InformerEvent } from '@sandbank/kube';
import type { Reconcile, ReconcileContext } from '../runtime/controller.js';
import { done, requeueAfter } from '../runtime/result.js';
import type { CachedKinds, Source } from './deps.js';

/** An object of a cache, as the API server stored it. */
export type CachedObject<S extends Source> = Readonly<Stored<CachedKinds[S]>>;

/** An informer whose events queue the keys `map` returns for the changed object. */
export type Watch<S extends Source = Source> = {
  readonly [K in S]: { readonly source: K; readonly map: (obj: CachedObject<K>) => readonly string[] };
}[S];

/** Bookkeeping that must see an event when it happens, not when its key is next reconciled. */
export type EventHook<S extends Source = Source> = {
  readonly [K in S]: {
    readonly source: K;
    readonly onEvent: (event: InformerEvent<Stored<CachedKinds[K]>>) => void;
  };
}[S];

/** The key of the object's controller owner when that owner is of `kind` (the mapping of `Owns`). */
export function ownerKey(obj: Readonly<Stored<{ readonly metadata: ObjectMeta }>>, kind: string): string[] {
  const owner = controllerOf(obj.metadata);
  return owner?.kind === kind ? [`${obj.metadata.namespace}/${owner.name}`] : [];
}

export interface Watches {
  /** The primary kind: an event queues the object's own key. */
  readonly for: Source;
  /** Its Kubernetes kind, the `kind` of the owner references on what it owns. */
  readonly kind: string;
  /** Kinds it creates: an event queues the key of the object's controller owner of `kind`. */
  readonly owns: readonly Source[];
  readonly watches: readonly Watch[];
  readonly hooks: readonly EventHook[];
}

/** What every plan has: actions for `apply`, and when to reconcile again (timers: TTLs, expiry). */
export interface Planned {
  readonly actions: readonly unknown[];
  readonly requeueAfterMs?: number | undefined;
}

export interface ReconcilerParts<Observed, Plan extends Planned> {
  readonly name: string;
  readonly watches: Watches;
  /** Reads the caches for `key`; undefined when the primary object is gone. */
  observe(key: ObjectKey): Observed | undefined;
  /** Decides, from what was observed only. */
  plan(observed: Observed, now: Date): Plan;
  /** Carries the plan out; throws to be retried with backoff. */
  apply(observed: Observed, plan: Plan, ctx: ReconcileContext): Promise<void>;
  /** The primary object is gone: drop what was kept for its queue key. */
  forget?(key: string): void;
}

export interface Reconciler {
  /** The controller's name: metric label, logger field, worker setting. */
  readonly name: string;
  readonly watches: Watches;
  readonly reconcile: Reconcile;
}

/** Builds the reconcile pass observe → plan → apply out of a reconciler's parts. */
export function reconciler<Observed, Plan extends Planned>(
  now: () => Date,
  parts: ReconcilerParts<Observed, Plan>,
): Reconciler {
  return {
    name: parts.name,
    watches: parts.watches,
    async reconcile(key: string, ctx: ReconcileContext) {
      const observed = parts.observe(parseKey(key));
      if (observed === undefined) {
        parts.forget?.(key);
        return done;
      }
      const plan = parts.plan(observed, now());
      await parts.apply(observed, plan, ctx);
      return plan.requeueAfterMs === undefined ? done : requeueAfter(plan.requeueAfterMs);
    },
  };
}
