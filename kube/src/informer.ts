/**
 * An informer that survives the API server: list (page by page), then watch from the list's
 * resourceVersion with bookmarks; when the server ends a watch, watch again from the last
 * resourceVersion seen; on 410 Gone list again; on any other error, or a watch that ends at once
 * without delivering a change, wait with capped exponential backoff and resume.
 * (@kubernetes/client-node's ListWatch stops for good on most errors, so this is our own loop on
 * our transport.)
 *
 * Guarantees:
 * - every object is parsed by the caller's zod schema and must carry its stored identity (name,
 *   uid, resourceVersion, and namespace for a namespaced kind); an invalid one is logged once per
 *   uid + resourceVersion and treated as absent (a cached object that turns invalid is deleted
 *   from the cache with a `delete` event: acting on its last valid version could undo the
 *   user's change);
 * - `metadata.managedFields` is stripped before parsing; stored objects are deep-frozen;
 * - `update` fires only when the resourceVersion changed;
 * - a re-list emits the difference to the cache (add, update, delete), so handlers see what
 *   happened while the watch was down, deletions included;
 * - `hasSynced()` turns true after the first list and stays true;
 * - all work per event is O(1 + index values); a re-list is O(n).
 */
import { formatZodError, storedSchema } from '@sandbank/api';
import type { Stored } from '@sandbank/api';
import type { KubeConfig } from '@kubernetes/client-node';
import type { z } from 'zod';
import { KubeError, kubeErrorFromResponse, toKubeError } from './errors.js';
import { listPages } from './list.js';
import type { Logger } from './logger.js';
import { resourcePath } from './resources.js';
import { Store, objectKey } from './store.js';
import type { KubeTransport, Query, WatchEvent } from './transport.js';
import { transportFor } from './transport.js';
import type { ApiCollection, Indexer, Informer, InformerEvent, KubeObject } from './types.js';

export interface InformerOptions<T extends KubeObject, N extends boolean> {
  readonly type: ApiCollection<N>;
  readonly schema: z.ZodType<T>;
  /** Empty or absent: all namespaces. */
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly indexers?: Readonly<Record<string, Indexer<Stored<T, N>>>>;
  readonly log: Logger;
  /**
   * Hears every failure of the list/watch loop (which then re-lists on `Gone`, or backs off and
   * resumes), like client-go's watch error handler: a caller that must not miss a version
   * learns here that it may have.
   */
  readonly onError?: (err: KubeError) => void;
  /** Defaults to the transport shared by everything built from the same KubeConfig. */
  readonly transport?: KubeTransport;
  /** Objects per list page; see list.ts. */
  readonly pageSize?: number;
  /**
   * Backoff after a failure: 200 ms doubling to 30 s. The first retry is quick because a watch
   * usually breaks for a moment (apiserver restart, connection reset) and every second without
   * a watch is a second the controller acts on stale data; the 30 s cap keeps a controller whose
   * CRD or RBAC is missing from hammering the server.
   */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
}

const DEFAULT_BACKOFF_INITIAL_MS = 200;
const DEFAULT_BACKOFF_MAX_MS = 30_000;
/**
 * A watch that ends sooner than this without delivering a change counts as a failure (backoff
 * applies): a server that closes watches at once would otherwise make us spin.
 */
const MIN_HEALTHY_WATCH_MS = 1_000;

interface RawMeta {
  name?: unknown;
  namespace?: unknown;
  uid?: unknown;
  resourceVersion?: unknown;
  managedFields?: unknown;
}

interface RawObject {
  metadata?: RawMeta;
}

export function createInformer<T extends KubeObject, N extends boolean = true>(
  kc: KubeConfig,
  opts: InformerOptions<T, N>,
): Informer<T, N> {
  type S = Stored<T, N>;
  const transport = opts.transport ?? transportFor(kc);
  const schema = storedSchema(opts.schema, opts.type.namespaced);
  const log = opts.log.child({
    informer: opts.type.plural,
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
  });
  const path = resourcePath(opts.type, opts.namespace);
  const pageSize = opts.pageSize === undefined ? {} : { pageSize: opts.pageSize };
  const selectors: Query = { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
  const backoffInitialMs = opts.backoffInitialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
  const backoffMaxMs = opts.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS;

  const store = new Store<S>(opts.indexers, (index, obj, err) =>
    log.error({ err, index, name: obj.metadata.name }, 'indexer threw; object left out of that index'),
  );
  const handlers: ((event: InformerEvent<S>) => void)[] = [];
  /** uid → resourceVersion of the invalid version already logged. */
  const invalidLogged = new Map<string, string>();
  let resourceVersion: string | undefined;
  let synced = false;
  /** Waiting for the current run's first list (start() after stop() waits for its re-list). */
  let listWaiters: (() => void)[] = [];
  let abort: AbortController | undefined;

  const emit = (event: InformerEvent<S>): void => {
    for (const handler of handlers) {
      try {
        handler(event);
      } catch (err) {
        log.error({ err, event: event.type, name: event.obj.metadata.name }, 'informer event handler threw');
      }
    }
  };

  const releaseListWaiters = (): void => {
    const waiters = listWaiters;
    listWaiters = [];
    for (const resolve of waiters) resolve();
  };

  /** The schema-checked, frozen object; undefined (logged once) when invalid. */
  const parse = (raw: RawObject): Readonly<S> | undefined => {
    if (raw.metadata) delete raw.metadata.managedFields;
    const result = schema.safeParse(raw);
    if (result.success) return deepFreeze(result.data);
    const uid = str(raw.metadata?.uid);
    const rv = str(raw.metadata?.resourceVersion);
    if (invalidLogged.get(uid) !== rv) {
      invalidLogged.set(uid, rv);
      log.warn(
        {
          name: str(raw.metadata?.name),
          objectNamespace: str(raw.metadata?.namespace),
          uid,
          resourceVersion: rv,
          problems: formatZodError(result.error).slice(0, 2000),
        },
        'object does not match its schema; ignoring it',
      );
    }
    return undefined;
  };

  /** Applies a fresh object (or its absence when invalid) under `key` and emits the change. */
  const apply = (key: string, obj: Readonly<S> | undefined): void => {
    const old = store.getByKey(key);
    if (obj === undefined) {
      if (old !== undefined) {
        store.remove(key);
        emit({ type: 'delete', obj: old });
      }
      return;
    }
    if (old !== undefined && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    store.upsert(obj);
    emit(old === undefined ? { type: 'add', obj } : { type: 'update', obj, old });
  };

  const relist = async (signal: AbortSignal): Promise<void> => {
    const fresh = new Map<string, Readonly<S> | undefined>();
    const invalidUids = new Set<string>();
    let listRv: string | undefined;
    for await (const page of listPages({ transport, path, query: selectors, signal, ...pageSize })) {
      for (const item of page.items) {
        const raw = (item ?? {}) as RawObject;
        const key = keyOfRaw(raw);
        const cached = store.getByKey(key);
        // Unchanged objects keep their cached (already parsed and frozen) version.
        const same =
          cached !== undefined && cached.metadata.resourceVersion === str(raw.metadata?.resourceVersion);
        const obj = same ? cached : parse(raw);
        if (obj === undefined) invalidUids.add(str(raw.metadata?.uid));
        fresh.set(key, obj);
      }
      listRv = page.resourceVersion;
    }
    if (signal.aborted) return;

    for (const [key, obj] of fresh) apply(key, obj);
    for (const key of store.keys()) {
      if (!fresh.has(key)) apply(key, undefined);
    }
    // Forget invalid objects that are gone, so the map stays as small as the set of invalid ones.
    for (const uid of invalidLogged.keys()) {
      if (!invalidUids.has(uid)) invalidLogged.delete(uid);
    }
    resourceVersion = listRv;
    log.debug({ objects: store.size, resourceVersion }, 'listed');
    if (!synced) {
      synced = true;
      log.info({ objects: store.size }, 'cache synced');
    }
    releaseListWaiters();
  };

  const onWatchEvent = (event: WatchEvent): void => {
    const raw = (event.object ?? {}) as RawObject;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        apply(keyOfRaw(raw), parse(raw));
        break;
      case 'DELETED': {
        const key = keyOfRaw(raw);
        const old = store.remove(key);
        invalidLogged.delete(str(raw.metadata?.uid));
        if (old !== undefined) {
          // Report the final state when it parses (it carries the deletion's resourceVersion).
          if (raw.metadata) delete raw.metadata.managedFields;
          const final = schema.safeParse(raw);
          emit({ type: 'delete', obj: final.success ? deepFreeze(final.data) : old });
        }
        break;
      }
      case 'BOOKMARK':
        break;
      case 'ERROR': {
        const status = event.object as { code?: unknown } | undefined;
        const code = typeof status?.code === 'number' ? status.code : 500;
        throw kubeErrorFromResponse(code, event.object, `WATCH ${path}`);
      }
      default:
        throw new KubeError('Other', 0, `WATCH ${path}: unknown event type ${JSON.stringify(event.type)}`);
    }
    const rv = str(raw.metadata?.resourceVersion);
    if (rv !== '') resourceVersion = rv;
  };

  const watch = async (signal: AbortSignal): Promise<boolean> => {
    // Spread watch lifetimes (client-go uses 5–10 min) so many informers do not reconnect in step.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const started = performance.now();
    let changes = 0;
    await transport.watch({
      path,
      query: { ...selectors, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
      signal,
      deadlineMs: (timeoutSeconds + 30) * 1000,
      onEvent: (event) => {
        if (event.type !== 'BOOKMARK') changes++;
        onWatchEvent(event);
      },
    });
    return changes > 0 || performance.now() - started >= MIN_HEALTHY_WATCH_MS;
  };

  const run = async (signal: AbortSignal): Promise<void> => {
    let failures = 0;
    let lastGone = false;
    while (!signal.aborted) {
      try {
        if (resourceVersion === undefined) await relist(signal);
        if (signal.aborted) break;
        const healthy = await watch(signal);
        if (healthy) {
          failures = 0;
          lastGone = false;
          continue;
        }
        throw new KubeError('Unavailable', 0, 'watch ended at once');
      } catch (err) {
        if (signal.aborted) break;
        const e = toKubeError(err, `informer ${opts.type.plural}`);
        opts.onError?.(e);
        if (e.kind === 'Gone' && !lastGone) {
          // The resourceVersion is older than the server's watch window: list again at once.
          // Twice in a row without a healthy watch in between gets backoff like any error.
          lastGone = true;
          log.info({ resourceVersion }, 'watch resourceVersion expired; re-listing');
          resourceVersion = undefined;
          continue;
        }
        if (e.kind === 'Gone') resourceVersion = undefined;
        failures++;
        const delayMs = Math.min(backoffInitialMs * 2 ** (failures - 1), backoffMaxMs);
        log.warn(
          { err: e.message, kind: e.kind, status: e.status, failures, delayMs },
          'list/watch failed; retrying',
        );
        await pause(delayMs, signal);
      }
    }
  };

  return {
    get: (namespace, name) => store.get(namespace, name),
    list: (namespace) => store.list(namespace),
    byIndex: (index, value) => store.byIndex(index, value),
    hasSynced: () => synced,
    onEvent(handler) {
      handlers.push(handler);
    },
    /**
     * Starts the loop (idempotent) and resolves once its first list is in the cache — also after
     * a stop, when that list tells handlers what changed meanwhile. Resolves without a list when
     * stopped first; it keeps retrying (and never resolves) while the API server is unreachable.
     */
    start() {
      if (abort !== undefined && resourceVersion !== undefined) return Promise.resolve();
      const listed = new Promise<void>((resolve) => listWaiters.push(resolve));
      if (abort === undefined) {
        const controller = new AbortController();
        abort = controller;
        // A restart always lists again: the diff tells handlers what changed while stopped.
        resourceVersion = undefined;
        run(controller.signal).catch((err: unknown) => log.error({ err }, 'informer loop crashed'));
      }
      return listed;
    },
    stop() {
      abort?.abort();
      abort = undefined;
      releaseListWaiters();
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts; never keeps the process alive. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
    if (signal.aborted) done();
  });
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function keyOfRaw(raw: RawObject): string {
  return objectKey(str(raw.metadata?.namespace), str(raw.metadata?.name));
}

/**
 * Freezes an object graph in place (the cache hands out shared references). Caveat: zod
 * shallow-clones object defaults, so a schema default with nested objects would be shared by
 * every parse and frozen here; keep defaults primitive (the api/ schemas do).
 */
export function deepFreeze<V>(value: V): Readonly<V> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
