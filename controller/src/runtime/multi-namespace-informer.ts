/**
 * One `Informer` over several namespaces. The API has no list or watch of "these namespaces",
 * only of one or of all, and a namespace-scoped controller may list and watch only where its
 * Roles are; so it runs one informer per namespace and its reconcilers read them through this
 * view, as they would read one cluster-wide informer.
 *
 * Reads of one namespace go to that namespace's informer only (an unwatched namespace reads as
 * empty); lists without a namespace and index lookups join every informer, each O(result).
 */
import type { Stored } from '@sandbank/api';
import type { Informer, InformerEvent, KubeObject } from '@sandbank/kube';

export function multiNamespaceInformer<T extends KubeObject>(
  byNamespace: ReadonlyMap<string, Informer<T>>,
): Informer<T> {
  if (byNamespace.size === 0) throw new Error('multiNamespaceInformer needs at least one namespace');
  const parts = [...byNamespace.values()];
  return {
    get: (namespace, name) => byNamespace.get(namespace)?.get(namespace, name),
    list: (namespace) =>
      namespace === undefined
        ? parts.flatMap((p) => p.list())
        : (byNamespace.get(namespace)?.list(namespace) ?? []),
    byIndex: (index, value) => parts.flatMap((p) => p.byIndex(index, value)),
    hasSynced: () => parts.every((p) => p.hasSynced()),
    onEvent(handler: (event: InformerEvent<Stored<T>>) => void) {
      for (const p of parts) p.onEvent(handler);
    },
    async start() {
      await Promise.all(parts.map((p) => p.start()));
    },
    stop() {
      for (const p of parts) p.stop();
    },
  };
}
