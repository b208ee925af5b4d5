// Shared by the controller's integration suites: a namespace per suite, a log sink, and waiting on
// informer events with a bounded timeout (never a sleep).
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../src/observability/logger.js';
import type {
  Informer,
  InformerEvent,
  KubeClient,
  KubeObject,
  ResourceType,
} from '../../../src/kube/types.js';

export const NAMESPACES: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'namespaces',
  kind: 'Namespace',
  namespaced: false,
};

/** Creates a fresh namespace `<prefix>-xxxxx`; delete it with `deleteNamespace`. */
export async function createNamespace(client: KubeClient, prefix: string): Promise<string> {
  const ns = await client.create<KubeObject>(NAMESPACES, '', { metadata: { generateName: `${prefix}-` } });
  const name = ns.metadata.name;
  if (!name) throw new Error('namespace has no name');
  return name;
}

export async function deleteNamespace(client: KubeClient, name: string | undefined): Promise<void> {
  if (name) await client.delete(NAMESPACES, '', name);
}

export interface LogCapture {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
}

/** A JSON logger whose lines are kept for assertions (and printed with SANDBANK_TEST_LOGS=1). */
export function captureLogs(): LogCapture {
  const lines: Record<string, unknown>[] = [];
  const echo = process.env['SANDBANK_TEST_LOGS'] === '1';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const line = chunk.toString();
      if (echo) process.stderr.write(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination: sink }), lines };
}

/** Records an informer's events and waits for the ones a test expects. */
export class EventLog<T extends KubeObject> {
  readonly events: InformerEvent<T>[] = [];
  private waiters: { check: () => boolean }[] = [];

  constructor(informer: Informer<T>) {
    informer.onEvent((event) => {
      this.events.push(event);
      this.waiters = this.waiters.filter((w) => !w.check());
    });
  }

  /** Events from `from` on, formatted `type name` for compact assertions. */
  summary(from = 0): string[] {
    return this.events.slice(from).map((e) => `${e.type} ${e.obj.metadata.name ?? ''}`);
  }

  /** Resolves with the first event at index ≥ `from` that matches; rejects after `timeoutMs`. */
  waitFor(
    match: (event: InformerEvent<T>) => boolean,
    opts: { readonly from?: number; readonly timeoutMs?: number; readonly what?: string } = {},
  ): Promise<InformerEvent<T>> {
    const from = opts.from ?? 0;
    const timeoutMs = opts.timeoutMs ?? 15_000;
    return new Promise((resolve, reject) => {
      const find = (): InformerEvent<T> | undefined => this.events.slice(from).find(match);
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
export function until<T extends KubeObject>(
  informer: Informer<T>,
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
