/**
 * Turns the watches reconcilers declare into informer handlers. Handlers only enqueue (a
 * reconciler re-reads everything from the caches) or run a reconciler's event hooks; children
 * map to owners through controller references.
 */
import { keyOf } from '@sandbank/api';
import type { InformerEvent } from '@sandbank/kube';
import type { Controller } from '../runtime/controller.js';
import type { Informers, Source } from './deps.js';
import { ownerKey, type CachedObject, type EventHook, type Watch, type Watches } from './reconciler.js';

/** Both versions of an updated object: an owner or label change must reach the old one too. */
function versions<T>(event: InformerEvent<T>): readonly Readonly<T>[] {
  return event.type === 'update' ? [event.obj, event.old] : [event.obj];
}

function enqueueOn<S extends Source>(informers: Informers, watch: Watch<S>, controller: Controller): void {
  informers[watch.source].onEvent((event) => {
    for (const version of versions(event)) for (const key of watch.map(version)) controller.enqueue(key);
  });
}

function hookOn<S extends Source>(informers: Informers, hook: EventHook<S>): void {
  informers[hook.source].onEvent(hook.onEvent);
}

/** Subscribes `controller` to the events its reconciler's `watches` declare. */
export function wireWatches(informers: Informers, watches: Watches, controller: Controller): void {
  for (const hook of watches.hooks) hookOn(informers, hook);
  const own = (obj: CachedObject<Source>) => [keyOf(obj)];
  const owned = (obj: CachedObject<Source>) => ownerKey(obj, watches.kind);
  enqueueOn(informers, { source: watches.for, map: own }, controller);
  for (const source of watches.owns) enqueueOn(informers, { source, map: owned }, controller);
  for (const watch of watches.watches) enqueueOn(informers, watch, controller);
}
