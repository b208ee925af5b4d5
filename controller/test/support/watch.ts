/**
 * A watch on one collection that sees every version of every object for as long as it runs:
 * list, then watch from the list's resourceVersion, resume from the last resourceVersion seen
 * when the server ends the watch, and re-list only after 410 Gone (reported through `onRelist`,
 * since versions may have been missed in between).
 *
 * A watch that checks invariants must also prove it was watching: `caughtUp()` fails on any
 * error the watch hit, and waits until what it delivered matches a fresh list of the collection
 * (every object at its current resourceVersion, none that is gone), so a watch that died or
 * stalled part-way fails the test instead of passing it with nothing checked.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { getJson } from '@sandbank/e2e';
import type { Obj } from '@sandbank/testing';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CollectionWatch {
  stop(): void;
  /** Resolves once the initial list was delivered and the watch is open. */
  readonly started: Promise<void>;
  /** Errors the watch hit (it resumed after each where it could). `caughtUp()` fails on any. */
  readonly errors: readonly string[];
  /** Events delivered so far (list items included). */
  readonly delivered: number;
  /**
   * Resolves once the watch has delivered the collection's current state; rejects if the watch
   * hit an error at any point, or if it has not caught up within `timeoutMs`: evidence that it
   * was alive, without a gap, from its start until now.
   */
  caughtUp(timeoutMs?: number): Promise<void>;
}

type Listed = { metadata?: { resourceVersion?: string }; items: Obj[] };

const keyOf = (obj: Obj): string => `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;

export function watchCollection(
  kc: KubeConfig,
  path: string,
  onEvent: (type: WatchEventType, obj: Obj, atMs: number) => void,
  opts: { onRelist?: () => void } = {},
): CollectionWatch {
  let stopped = false;
  let abort: AbortController | undefined;
  let resourceVersion: string | undefined;
  const errors: string[] = [];
  /** What the watch has delivered: each live object's last resourceVersion. */
  const view = new Map<string, string>();
  let delivered = 0;
  const deliver = (type: WatchEventType, obj: Obj, at: number): void => {
    delivered++;
    if (type === 'DELETED') view.delete(keyOf(obj));
    else view.set(keyOf(obj), obj.metadata.resourceVersion ?? '');
    onEvent(type, obj, at);
  };

  // A fresh CRD answers 429 "storage is (re)initializing" for a moment: retry for up to 30 s.
  const list = async () => {
    let listed: Listed | undefined;
    for (const deadline = Date.now() + 30_000; listed === undefined;) {
      try {
        listed = await getJson<Listed>(kc, path);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const at = performance.now();
    view.clear();
    for (const item of listed.items) deliver('ADDED', item, at);
    resourceVersion = listed.metadata?.resourceVersion;
  };

  /** How the delivered state differs from `listed`, or undefined when it matches. */
  const lag = (listed: Listed): string | undefined => {
    const now = new Map(listed.items.map((o) => [keyOf(o), o.metadata.resourceVersion ?? '']));
    const problems: string[] = [];
    for (const [key, rv] of now) {
      const seen = view.get(key);
      if (seen === undefined) problems.push(`${key} never delivered`);
      else if (seen !== rv) problems.push(`${key} delivered at ${seen}, now ${rv}`);
    }
    for (const key of view.keys())
      if (!now.has(key)) problems.push(`${key} gone, its deletion never delivered`);
    return problems.length === 0
      ? undefined
      : `${problems.length} differences: ${problems.slice(0, 5).join('; ')}`;
  };

  const open = async (): Promise<void> => {
    if (stopped) return;
    let gone = false;
    abort = await new Watch(kc).watch(
      path,
      { allowWatchBookmarks: true, ...(resourceVersion ? { resourceVersion } : {}) },
      (type: string, obj: Obj) => {
        const at = performance.now();
        if (type === 'ERROR') {
          gone = true;
          return;
        }
        const rv = obj.metadata.resourceVersion;
        if (rv) resourceVersion = rv;
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') deliver(type, obj, at);
      },
      (err: unknown) => {
        if (stopped) return;
        const resume = async () => {
          if (gone) {
            opts.onRelist?.();
            await list();
          }
          await open();
        };
        if (err && !gone) errors.push(err instanceof Error ? err.message : JSON.stringify(err));
        setTimeout(() => {
          resume().catch((e: unknown) => errors.push(e instanceof Error ? e.message : String(e)));
        }, 50);
      },
    );
    if (stopped) abort.abort();
  };

  const started = list().then(open);
  // Callers await `started` when they need it; do not let an early failure go unhandled meanwhile.
  started.catch((e: unknown) => errors.push(e instanceof Error ? e.message : String(e)));
  return {
    started,
    errors,
    get delivered() {
      return delivered;
    },
    async caughtUp(timeoutMs = 30_000) {
      await started;
      const failed = () => new Error(`watch of ${path} hit errors: ${errors.join('; ')}`);
      for (const deadline = Date.now() + timeoutMs; ;) {
        if (errors.length > 0) throw failed();
        const problem = lag(await getJson<Listed>(kc, path));
        if (errors.length > 0) throw failed();
        if (problem === undefined) return;
        if (Date.now() > deadline) {
          throw new Error(`watch of ${path} did not catch up within ${timeoutMs} ms: ${problem}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop() {
      stopped = true;
      abort?.abort();
    },
  };
}
