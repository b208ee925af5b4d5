/**
 * `EventRecorder` on events.k8s.io/v1. Emitting is fire-and-forget: it never throws and never
 * blocks a reconcile. A repeat of the same event (same object, type, reason and note) within the
 * aggregation window bumps the existing Event's `series` instead of creating another object, so
 * a reconciler stuck on a bad spec does not fill etcd with copies.
 */
import type { Stored } from '@sandbank/api';
import type { Logger } from './logger.js';
import { apiVersionOf, EVENTS } from './resources.js';
import { microTime } from './time.js';
import type { EventRecorder, KubeClient, KubeObject } from './types.js';

export interface EventRecorderOptions {
  readonly client: KubeClient;
  /** `reportingController`, e.g. `agents.x-k8s.io/sandbank-controller`. */
  readonly controller: string;
  /** `reportingInstance`: this replica (the leader election identity). */
  readonly instance: string;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * Repeats within 10 minutes are folded into one Event (client-go's EventCorrelator uses the same
 * window). Longer folds more but hides that a problem went away and came back.
 */
const AGGREGATION_WINDOW_MS = 10 * 60_000;
/** Remembered series; the oldest are dropped beyond this, bounding memory under event storms. */
const MAX_SERIES = 4096;
/** events.k8s.io/v1 rejects notes over 1 kB. */
const MAX_NOTE = 1024;

interface Series {
  /** The created Event (undefined if creating it failed); set before the create returns, so a
   * repeat arriving meanwhile joins the series instead of creating a twin. */
  readonly created: Promise<{ readonly name: string; readonly namespace: string } | undefined>;
  count: number;
  readonly firstAt: number;
}

interface EventObject extends KubeObject {
  readonly eventTime: string;
  readonly reportingController: string;
  readonly reportingInstance: string;
  readonly action: string;
  readonly reason: string;
  readonly note: string;
  readonly type: 'Normal' | 'Warning';
  readonly regarding: Readonly<Record<string, string | undefined>>;
}

export function createEventRecorder(opts: EventRecorderOptions): EventRecorder {
  const now = opts.now ?? Date.now;
  const series = new Map<string, Series>();

  const record = async (
    regarding: Stored<KubeObject>,
    type: 'Normal' | 'Warning',
    reason: string,
    note: string,
  ): Promise<void> => {
    const namespace = regarding.metadata.namespace;
    const key = [regarding.metadata.uid, type, reason, note].join('\u0000');
    const at = now();
    const existing = series.get(key);
    if (existing !== undefined && at - existing.firstAt < AGGREGATION_WINDOW_MS) {
      const count = ++existing.count;
      const ref = await existing.created;
      if (ref !== undefined) {
        try {
          await opts.client.mergePatch(EVENTS, ref.namespace, ref.name, {
            series: { count, lastObservedTime: microTime(at) },
          });
          return;
        } catch {
          // The Event expired or was deleted: start a new one below.
        }
      }
      if (series.get(key) === existing) series.delete(key);
    }
    const created = opts.client
      .create<EventObject>(EVENTS, namespace, {
        apiVersion: apiVersionOf(EVENTS),
        kind: EVENTS.kind,
        metadata: { name: eventName(regarding.metadata.name, at), namespace },
        eventTime: microTime(at),
        reportingController: opts.controller,
        reportingInstance: opts.instance,
        action: reason,
        reason,
        note: note.length > MAX_NOTE ? `${note.slice(0, MAX_NOTE - 3)}...` : note,
        type,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: regarding.metadata.name,
          namespace: regarding.metadata.namespace,
          uid: regarding.metadata.uid,
          resourceVersion: regarding.metadata.resourceVersion,
        },
      })
      .then((event) => ({ name: event.metadata.name, namespace }));
    const entry: Series = { created: created.catch(() => undefined), count: 1, firstAt: at };
    series.delete(key);
    series.set(key, entry);
    if (series.size > MAX_SERIES) {
      const oldest = series.keys().next();
      if (!oldest.done) series.delete(oldest.value);
    }
    try {
      await created;
    } catch (err) {
      if (series.get(key) === entry) series.delete(key);
      throw err;
    }
  };

  return {
    event(regarding, type, reason, message) {
      record(regarding, type, reason, message).catch((err: unknown) =>
        opts.log.debug({ err, reason, name: regarding.metadata.name }, 'could not record event'),
      );
    },
  };
}

/**
 * `<object>.<time in hex><random>` like client-go's names (a generateName ending in '.' is not a
 * valid prefix). The suffix keeps names unique across replicas and repeats in one millisecond.
 */
function eventName(objectName: string, at: number): string {
  const random = Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
  return `${objectName.slice(0, 200)}.${at.toString(16)}${random}`;
}
