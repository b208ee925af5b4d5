// Waits for one object to reach a state by list + watch (never by polling).
import { Watch } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { getJson } from './kube.js';

export interface WaitForOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** Named in the timeout error, e.g. "pod x Running". */
  description?: string;
}

interface List<T> {
  metadata?: { resourceVersion?: string };
  items: T[];
}

/**
 * Resolves once `predicate` holds for the object `name` in the collection at `collectionPath`
 * (e.g. `/api/v1/namespaces/ns/pods`). The predicate sees `undefined` while the object does not
 * exist, so `(o) => o === undefined` waits for a deletion. Resolves with the last object seen.
 */
const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

export async function waitFor<T extends KubernetesObject>(
  kc: KubeConfig,
  collectionPath: string,
  name: string,
  predicate: (obj: T | undefined) => boolean,
  opts: WaitForOptions = {},
): Promise<T | undefined> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const fieldSelector = `metadata.name=${name}`;
  let current: T | undefined;
  let abort: AbortController | undefined;
  let settled = false;

  return new Promise<T | undefined>((resolvePromise, reject) => {
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      abort?.abort();
      if (err) reject(err);
      else resolvePromise(current);
    };
    const timer = setTimeout(() => {
      const what = opts.description ?? `${collectionPath}/${name}`;
      const last = current === undefined ? 'absent' : JSON.stringify(current).slice(0, 2000);
      finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${last}`));
    }, timeoutMs);
    const check = (): void => {
      try {
        if (predicate(current)) finish();
      } catch (err) {
        finish(asError(err));
      }
    };

    // List (current state and a resourceVersion), then watch from there; when the watch ends
    // (server timeout, 410 Gone) list and watch again.
    const listAndWatch = async (): Promise<void> => {
      const list = await getJson<List<T>>(
        kc,
        `${collectionPath}?fieldSelector=${encodeURIComponent(fieldSelector)}`,
      );
      if (settled) return;
      current = list.items[0];
      check();
      if (settled) return;
      let restart = false;
      abort = await new Watch(kc).watch(
        collectionPath,
        { fieldSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
        (type: string, obj: T) => {
          if (type === 'ADDED' || type === 'MODIFIED') current = obj;
          else if (type === 'DELETED') current = undefined;
          else if (type === 'ERROR') restart = true; // e.g. 410 Gone: the resourceVersion is too old
          if (type !== 'BOOKMARK' && type !== 'ERROR') check();
        },
        (err: unknown) => {
          if (settled) return;
          if (err && !restart) {
            finish(asError(err));
            return;
          }
          listAndWatch().catch((e: unknown) => finish(asError(e)));
        },
      );
      if (settled) abort.abort();
    };
    listAndWatch().catch((e: unknown) => finish(asError(e)));
  });
}
