/**
 * A small list+watch cache of one collection, kept robust on purpose (client-node's informer
 * stops on errors): list, then watch from the list's resourceVersion; a watch the server closes
 * normally resumes from the last resourceVersion seen (bookmarks keep it fresh); `410 Gone`
 * re-lists; any other failure re-lists after an exponential backoff. Objects are parsed at the
 * boundary and trimmed to a small entry; one that does not parse is skipped and logged.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Watch } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import { kubeRequest } from './kube-http.js';

export interface ListWatchOptions<E> {
  readonly kc: KubeConfig;
  /** Collection path, such as `/api/v1/pods` or `/api/v1/namespaces/x/pods`. */
  readonly path: string;
  readonly labelSelector?: string;
  /** The object as an entry, or a zod error to log and skip it. */
  readonly parse: (obj: unknown) => { ok: true; entry: E } | { ok: false; error: string };
  readonly keyOf: (entry: E) => string;
  /** Called with the key of every entry added, changed or removed. */
  readonly onChange?: (key: string) => void;
  readonly log: Logger;
  /**
   * Backoff after a failed list or watch: doubles from `initialMs` to `maxMs`. Small enough that
   * an API server restart costs a second of staleness, large enough that a broken RBAC rule does
   * not turn into a request storm.
   */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /**
   * Server-side watch timeout. The server ends each watch after this long and we resume from the
   * last resourceVersion: a bound on how long a silently dead connection can hide updates.
   */
  readonly watchTimeoutSeconds?: number;
}

const ListMeta = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string() }),
  items: z.array(z.unknown()),
});
const ObjectRv = z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string().optional() }) });
const StatusObject = z.looseObject({ code: z.number().optional(), reason: z.string().optional() });

type WatchEnd = { kind: 'closed' } | { kind: 'gone' } | { kind: 'failed'; error: unknown };

export class ListWatch<E> {
  private readonly items = new Map<string, E>();
  private readonly abort = new AbortController();
  private watchAbort: AbortController | undefined;
  private synced = false;
  private running: Promise<void> | undefined;
  private resourceVersion = '';

  constructor(private readonly opts: ListWatchOptions<E>) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.watchAbort?.abort();
    await this.running;
  }

  get(key: string): Readonly<E> | undefined {
    return this.items.get(key);
  }

  get size(): number {
    return this.items.size;
  }

  /** True once the first list has landed (later failures keep the last known state). */
  hasSynced(): boolean {
    return this.synced;
  }

  private async loop(): Promise<void> {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 200, maxMs: 30_000 };
    let delay = initialMs;
    let needList = true;
    while (!this.abort.signal.aborted) {
      try {
        if (needList) await this.list();
        const end = await this.watchOnce();
        if (this.abort.signal.aborted) return;
        if (end.kind === 'closed') {
          needList = false;
          delay = initialMs;
          continue;
        }
        needList = true;
        if (end.kind === 'gone') {
          this.opts.log.debug({ path: this.opts.path }, 'watch expired (410 Gone); re-listing');
          continue;
        }
        throw end.error;
      } catch (error) {
        if (this.abort.signal.aborted) return;
        needList = true;
        this.opts.log.warn(
          { path: this.opts.path, err: String(error), retryInMs: delay },
          'list/watch failed; retrying',
        );
        try {
          await sleep(delay, undefined, { signal: this.abort.signal });
        } catch {
          return;
        }
        delay = Math.min(delay * 2, maxMs);
      }
    }
  }

  private query(): string {
    const params = new URLSearchParams();
    if (this.opts.labelSelector) params.set('labelSelector', this.opts.labelSelector);
    const q = params.toString();
    return q ? `?${q}` : '';
  }

  private async list(): Promise<void> {
    const raw = await kubeRequest(
      this.opts.kc,
      'GET',
      this.opts.path + this.query(),
      undefined,
      this.abort.signal,
    );
    const list = ListMeta.parse(raw);
    const seen = new Map<string, E>();
    for (const obj of list.items) {
      const parsed = this.opts.parse(obj);
      if (parsed.ok) seen.set(this.opts.keyOf(parsed.entry), parsed.entry);
      else
        this.opts.log.warn(
          { path: this.opts.path, error: parsed.error },
          'skipping an object that does not parse',
        );
    }
    for (const key of [...this.items.keys()]) {
      if (!seen.has(key)) {
        this.items.delete(key);
        this.opts.onChange?.(key);
      }
    }
    for (const [key, entry] of seen) {
      this.items.set(key, entry);
      this.opts.onChange?.(key);
    }
    this.resourceVersion = list.metadata.resourceVersion;
    this.synced = true;
  }

  private watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve) => {
      let gone = false;
      const params: Record<string, string | number | boolean> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300,
      };
      if (this.opts.labelSelector) params['labelSelector'] = this.opts.labelSelector;
      new Watch(this.opts.kc)
        .watch(
          this.opts.path,
          params,
          (type: string, obj: unknown) => {
            if (type === 'ERROR') {
              const status = StatusObject.safeParse(obj);
              if (status.success && (status.data.code === 410 || status.data.reason === 'Expired'))
                gone = true;
              return;
            }
            this.onEvent(type, obj);
          },
          (err: unknown) => {
            this.watchAbort = undefined;
            if (gone) resolve({ kind: 'gone' });
            else if (err && !this.abort.signal.aborted) resolve({ kind: 'failed', error: err });
            else resolve({ kind: 'closed' });
          },
        )
        .then(
          (controller) => {
            this.watchAbort = controller;
            if (this.abort.signal.aborted) controller.abort();
          },
          (error: unknown) => resolve({ kind: 'failed', error }),
        );
    });
  }

  private onEvent(type: string, obj: unknown): void {
    const rv = ObjectRv.safeParse(obj);
    if (rv.success && rv.data.metadata.resourceVersion)
      this.resourceVersion = rv.data.metadata.resourceVersion;
    if (type === 'BOOKMARK') return;
    const parsed = this.opts.parse(obj);
    if (!parsed.ok) {
      this.opts.log.warn(
        { path: this.opts.path, error: parsed.error },
        'skipping an object that does not parse',
      );
      return;
    }
    const key = this.opts.keyOf(parsed.entry);
    if (type === 'DELETED') this.items.delete(key);
    else if (type === 'ADDED' || type === 'MODIFIED') this.items.set(key, parsed.entry);
    else return;
    this.opts.onChange?.(key);
  }
}
