/**
 * Waiting on the API server in tests and benchmarks by watching it: each helper is an informer of
 * @sandbank/kube (paged list, watch with bookmarks, resume, 410 → re-list, backoff), so tests wait
 * the way the controller and the router watch.
 *
 * - `waitFor`: one object reaches a state (or is gone).
 * - `watchCollection`: every version of every object of a collection, for as long as it runs,
 *   with proof (`caughtUp`) that it was watching the whole time.
 * - `EventLog` / `until`: assertions on an informer's own events.
 */
import { ObjectMeta } from '@sandbank/api';
import { createInformer, transportFor } from '@sandbank/kube';
import type { ApiCollection, Informer, InformerEvent, KubeConfig, KubeError, Logger } from '@sandbank/kube';
import { z } from 'zod';
import type { Obj } from './fixtures.js';

/** Any object as listed: metadata checked, the rest kept as the server sent it. */
const Listed = z.looseObject({ metadata: ObjectMeta });
type Listed = z.infer<typeof Listed>;

/** The informers' logs are noise in test output; their failures reach the helpers through `onError`. */
const quiet: Logger = {
  child: () => quiet,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * The collection a list path names: `/api/v1[/namespaces/<ns>]/<plural>` or
 * `/apis/<group>/<version>[/namespaces/<ns>]/<plural>`. Read without a namespace in the path, the
 * objects' identity is checked without one (cluster-scoped kinds, or all namespaces).
 */
export function collectionAt(path: string): { collection: ApiCollection; namespace: string | undefined } {
  const m = /^\/(?:api\/(v1)|apis\/([^/?]+)\/([^/?]+))(?:\/namespaces\/([^/?]+))?\/([^/?]+)$/.exec(path);
  const version = m?.[1] ?? m?.[3];
  const plural = m?.[5];
  if (version === undefined || plural === undefined) throw new Error(`not a collection path: ${path}`);
  const namespace = m?.[4];
  return {
    collection: { group: m?.[2] ?? '', version, plural, namespaced: namespace !== undefined },
    namespace,
  };
}

/** An informer over `path` that parses only metadata; `fieldSelector` narrows it to one object. */
function informerAt(
  kc: KubeConfig,
  path: string,
  opts: { readonly fieldSelector?: string; readonly onError?: (err: KubeError) => void },
): Informer<Listed, boolean> {
  const { collection, namespace } = collectionAt(path);
  return createInformer(kc, {
    type: collection,
    schema: Listed,
    log: quiet,
    ...(namespace === undefined ? {} : { namespace }),
    ...opts,
  });
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

export interface WaitForOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** Named in the timeout error, e.g. "pod x Running". */
  description?: string;
}

/**
 * Resolves once `predicate` holds for the object `name` in the collection at `collectionPath`
 * (e.g. `/api/v1/namespaces/ns/pods`). The predicate sees `undefined` while the object does not
 * exist, so `(o) => o === undefined` waits for a deletion. Resolves with the last object seen;
 * rejects after the timeout (naming the last object seen and the last list/watch failure) or when
 * the predicate throws.
 */
export function waitFor<T = Obj>(
  kc: KubeConfig,
  collectionPath: string,
  name: string,
  predicate: (obj: T | undefined) => boolean,
  opts: WaitForOptions = {},
): Promise<T | undefined> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let lastError: KubeError | undefined;
  const informer = informerAt(kc, collectionPath, {
    fieldSelector: `metadata.name=${name}`,
    onError: (err) => (lastError = err),
  });
  // Only the metadata was checked: `T` (often a client-node type) is the caller's view of the
  // rest, as with client-node's own responses.
  const current = (): T | undefined => {
    const obj: unknown = informer.list()[0];
    return obj as T | undefined;
  };
  return new Promise<T | undefined>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      informer.stop();
      if (err) reject(err);
      else resolve(current());
    };
    const timer = setTimeout(() => {
      const what = opts.description ?? `${collectionPath}/${name}`;
      const obj = current();
      const last = obj === undefined ? 'absent' : JSON.stringify(obj).slice(0, 2000);
      const failure = lastError === undefined ? '' : `; last list/watch failure: ${lastError.message}`;
      finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${last}${failure}`));
    }, timeoutMs);
    const check = (): void => {
      if (settled || !informer.hasSynced()) return;
      try {
        if (predicate(current())) finish();
      } catch (err) {
        finish(asError(err));
      }
    };
    informer.onEvent(check);
    informer.start().then(check, (err: unknown) => finish(asError(err)));
  });
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

const WATCH_EVENT: Readonly<Record<InformerEvent<unknown>['type'], WatchEventType>> = {
  add: 'ADDED',
  update: 'MODIFIED',
  delete: 'DELETED',
};

export interface CollectionWatch {
  stop(): void;
  /**
   * Resolves once the collection's current state was delivered and the watch runs from there;
   * rejects if no list succeeds within 30 s (a fresh CRD answers 429 for a moment, which is
   * retried until then).
   */
  readonly started: Promise<void>;
  /**
   * Failures the watch hit after it started (it resumed after each, re-listing after 410 Gone,
   * which is reported through `onRelist` instead). `caughtUp()` fails on any.
   */
  readonly errors: readonly string[];
  /** Events delivered so far (the initial list's objects included). */
  readonly delivered: number;
  /**
   * Resolves once the watch has delivered the collection's current state; rejects if the watch
   * hit an error at any point, or if it has not caught up within `timeoutMs`: evidence that it
   * was alive, without a gap, from its start until now.
   */
  caughtUp(timeoutMs?: number): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const keyOf = (meta: { readonly namespace?: string | undefined; readonly name: string }): string =>
  `${meta.namespace ?? ''}/${meta.name}`;

/**
 * Watches the collection at `path`, handing `onEvent` every version of every object with the
 * `performance.now()` of its arrival. After a 410 Gone the collection is listed again and the
 * difference delivered; `onRelist` is told first, since versions in between were not seen.
 */
export function watchCollection(
  kc: KubeConfig,
  path: string,
  onEvent: (type: WatchEventType, obj: Obj, atMs: number) => void,
  opts: { readonly onRelist?: () => void } = {},
): CollectionWatch {
  const errors: string[] = [];
  let delivered = 0;
  const informer = informerAt(kc, path, {
    onError: (err) => {
      // Failures of the first list are retried within the start timeout; after it they count.
      if (!informer.hasSynced()) return;
      if (err.kind === 'Gone') opts.onRelist?.();
      else errors.push(err.message);
    },
  });
  informer.onEvent((event) => {
    delivered++;
    // As in `waitFor`: the metadata was checked, the rest is the server's JSON.
    const obj: unknown = event.obj;
    onEvent(WATCH_EVENT[event.type], obj as Obj, performance.now());
  });

  let startTimer: NodeJS.Timeout | undefined;
  const started = Promise.race([
    informer.start(),
    new Promise<never>((_, reject) => {
      startTimer = setTimeout(
        () => reject(new Error(`watch of ${path}: no list succeeded within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
    }),
  ]).finally(() => clearTimeout(startTimer));
  // Callers await `started` when they need it; do not let an early failure go unhandled meanwhile.
  started.catch((err: unknown) => errors.push(asError(err).message));

  /** How what was delivered differs from the server's current list, or undefined when it matches. */
  const lag = async (): Promise<string | undefined> => {
    const now = z
      .object({ items: z.array(Listed) })
      .parse(await transportFor(kc).request<unknown>({ method: 'GET', path }));
    const seen = new Map(informer.list().map((o) => [keyOf(o.metadata), o.metadata.resourceVersion]));
    const problems: string[] = [];
    for (const { metadata } of now.items) {
      const key = `${metadata.namespace ?? ''}/${metadata.name ?? ''}`;
      const rv = seen.get(key);
      if (rv === undefined) problems.push(`${key} never delivered`);
      else if (rv !== metadata.resourceVersion)
        problems.push(`${key} delivered at ${rv}, now ${metadata.resourceVersion ?? '?'}`);
      seen.delete(key);
    }
    for (const key of seen.keys()) problems.push(`${key} gone, its deletion never delivered`);
    return problems.length === 0
      ? undefined
      : `${problems.length} differences: ${problems.slice(0, 5).join('; ')}`;
  };

  return {
    started,
    errors,
    get delivered() {
      return delivered;
    },
    async caughtUp(timeoutMs = 30_000) {
      await started;
      const failed = (): Error => new Error(`watch of ${path} hit errors: ${errors.join('; ')}`);
      for (const deadline = Date.now() + timeoutMs; ;) {
        if (errors.length > 0) throw failed();
        const problem = await lag();
        if (errors.length > 0) throw failed();
        if (problem === undefined) return;
        if (Date.now() > deadline) {
          throw new Error(`watch of ${path} did not catch up within ${timeoutMs} ms: ${problem}`);
        }
        // The watch is behind the fresh list by moments: look again once it has had time to deliver.
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop() {
      informer.stop();
    },
  };
}

/** Records an informer's events and waits for the ones a test expects. */
export class EventLog<E extends InformerEvent<{ readonly metadata: { readonly name: string } }>> {
  readonly events: E[] = [];
  private waiters: { check: () => boolean }[] = [];

  constructor(informer: { onEvent(handler: (event: E) => void): void }) {
    informer.onEvent((event) => {
      this.events.push(event);
      this.waiters = this.waiters.filter((w) => !w.check());
    });
  }

  /** Events from `from` on, formatted `type name` for compact assertions. */
  summary(from = 0): string[] {
    return this.events.slice(from).map((e) => `${e.type} ${e.obj.metadata.name}`);
  }

  /** Resolves with the first event at index ≥ `from` that matches; rejects after `timeoutMs`. */
  waitFor(
    match: (event: E) => boolean,
    opts: { readonly from?: number; readonly timeoutMs?: number; readonly what?: string } = {},
  ): Promise<E> {
    const from = opts.from ?? 0;
    const timeoutMs = opts.timeoutMs ?? 15_000;
    return new Promise((resolve, reject) => {
      const find = (): E | undefined => this.events.slice(from).find(match);
      const found = find();
      if (found) {
        resolve(found);
        return;
      }
      const timer = setTimeout(() => {
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'an event'}; saw ${this.summary(from).join(', ')}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push({
        check: () => {
          const hit = find();
          if (!hit) return false;
          clearTimeout(timer);
          resolve(hit);
          return true;
        },
      });
    });
  }
}

/** Resolves when `predicate` holds, re-checking on each of `informer`'s events; bounded. */
export function until(
  informer: { onEvent(handler: () => void): void },
  predicate: () => boolean,
  timeoutMs = 15_000,
  what = 'a condition',
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (predicate()) {
      resolve();
      return;
    }
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    informer.onEvent(() => {
      if (done || !predicate()) return;
      done = true;
      clearTimeout(timer);
      resolve();
    });
  });
}
