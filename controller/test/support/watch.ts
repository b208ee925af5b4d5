/**
 * A watch on one collection that sees every version of every object for as long as it runs:
 * list, then watch from the list's resourceVersion, resume from the last resourceVersion seen
 * when the server ends the watch, and re-list only after 410 Gone (reported through `onRelist`,
 * since versions may have been missed in between).
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { getJson } from '@sandbank/e2e';
import type { Obj } from './fixtures.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CollectionWatch {
  stop(): void;
  /** Resolves once the initial list was delivered and the watch is open. */
  readonly started: Promise<void>;
  /** Errors the watch hit (it resumed after each; for failure messages). */
  readonly errors: readonly string[];
}

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

  // A fresh CRD answers 429 "storage is (re)initializing" for a moment: retry for up to 30 s.
  const list = async () => {
    let listed: { metadata?: { resourceVersion?: string }; items: Obj[] } | undefined;
    for (const deadline = Date.now() + 30_000; listed === undefined;) {
      try {
        listed = await getJson<{ metadata?: { resourceVersion?: string }; items: Obj[] }>(kc, path);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const at = performance.now();
    for (const item of listed.items) onEvent('ADDED', item, at);
    resourceVersion = listed.metadata?.resourceVersion;
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
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') onEvent(type, obj, at);
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
        if (err && !gone) errors.push(err instanceof Error ? err.message : String(err));
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
    stop() {
      stopped = true;
      abort?.abort();
    },
  };
}
