/**
 * The controller loop (controller-runtime's reconcileHandler): N workers take keys from one work
 * queue and call `reconcile(key, ctx)`. The loop owns everything around a pass — the
 * reconcileId, the child logger, the OTel span, the metrics — and maps the outcome to the queue
 * through `decideRequeue`, the only place requeue policy lives. Reconcilers return a Result or
 * throw; they never touch the queue.
 */
import { randomUUID } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import type { Logger } from '../observability/logger.js';
import type { ControllerMetrics } from '../observability/metrics.js';
import type { Span, Tracer } from '../observability/tracing.js';
import { getTracer, recordSpanError } from '../observability/tracing.js';
import type { Clock } from './clock.js';
import { realClock } from './clock.js';
import type { RateLimiter } from './rate-limiter.js';
import type { Result } from './result.js';
import { RetryAfter, TerminalError, decideRequeue, resultLabel } from './result.js';
import { WorkQueue } from './workqueue.js';

/** What a reconcile pass gets besides its key. */
export interface ReconcileContext {
  /** Unique per pass; on every log line of the pass. */
  readonly reconcileId: string;
  /** Bound to controller, key and reconcileId. */
  readonly log: Logger;
  /** Aborted when the controller stops (SIGTERM, lost lease): finish or bail out, start nothing new. */
  readonly signal: AbortSignal;
  /** The pass's span, for attributes such as the chosen pod. */
  readonly span: Span;
  /** Failed passes of this key since its last success (0 on a first try). */
  readonly retries: number;
}

export type Reconcile = (key: string, ctx: ReconcileContext) => Promise<Result>;

export interface ControllerOptions {
  /** Metric label and logger field; a closed set (e.g. `sandboxclaim`). */
  readonly name: string;
  /** Concurrent passes (over distinct keys: one key is never reconciled twice at once). */
  readonly workers: number;
  readonly reconcile: Reconcile;
  readonly log: Logger;
  readonly metrics: ControllerMetrics;
  /** Defaults to the `sandbank-controller` tracer (no-op without an SDK). */
  readonly tracer?: Tracer;
  readonly clock?: Clock;
  /** Defaults to per-key exponential backoff, 5 ms to 60 s. */
  readonly rateLimiter?: RateLimiter<string>;
}

export interface Controller {
  readonly name: string;
  /** Queue `key` (idempotent). Allowed before `start()`: keys wait for the workers. */
  enqueue(key: string): void;
  enqueueAfter(key: string, ms: number): void;
  /** Starts the workers. Idempotent. */
  start(): void;
  /**
   * Aborts `ctx.signal`, stops handing out keys, and resolves when every pass in flight has
   * returned. Final: a stopped controller does not start again (a new leader term is a new
   * process).
   */
  stop(): Promise<void>;
  queueDepth(): number;
}

export function createController(opts: ControllerOptions): Controller {
  if (!Number.isInteger(opts.workers) || opts.workers < 1) {
    throw new RangeError(`controller ${opts.name}: workers must be a positive integer (got ${opts.workers})`);
  }
  const clock = opts.clock ?? realClock;
  const tracer = opts.tracer ?? getTracer();
  const log = opts.log.child({ controller: opts.name });
  const queue = new WorkQueue({
    clock,
    ...(opts.rateLimiter ? { rateLimiter: opts.rateLimiter } : {}),
    onDepth: (depth) => opts.metrics.workqueueDepth(opts.name, depth),
  });
  const abort = new AbortController();
  let workers: Promise<void>[] | undefined;
  let stopping: Promise<void> | undefined;

  const processKey = async (key: string): Promise<void> => {
    const reconcileId = randomUUID();
    const passLog = log.child({ key, reconcileId });
    const retries = queue.numRequeues(key);
    const started = performance.now();
    await tracer.startActiveSpan(
      `reconcile ${opts.name}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          'sandbank.controller': opts.name,
          'sandbank.key': key,
          'sandbank.reconcile_id': reconcileId,
        },
      },
      async (span) => {
        let outcome: { readonly result: Result } | { readonly error: unknown };
        try {
          outcome = {
            result: await opts.reconcile(key, {
              reconcileId,
              log: passLog,
              signal: abort.signal,
              span,
              retries,
            }),
          };
        } catch (error) {
          outcome = { error };
        }
        const seconds = (performance.now() - started) / 1000;
        const label = resultLabel(outcome);
        opts.metrics.reconcile(opts.name, label, seconds);
        span.setAttribute('sandbank.result', label);
        if ('error' in outcome) {
          recordSpanError(span, outcome.error);
          logFailure(passLog, outcome.error, retries, abort.signal.aborted);
        }
        span.end();

        const decision = decideRequeue(outcome);
        switch (decision.action) {
          case 'forget':
            queue.forget(key);
            break;
          case 'after':
            // A known wait is not a failure: reset the backoff, then wait exactly that long.
            queue.forget(key);
            queue.addAfter(key, decision.ms);
            break;
          case 'backoff':
            queue.addRateLimited(key);
            break;
        }
      },
    );
  };

  const worker = async (): Promise<void> => {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      try {
        await processKey(key);
      } catch (err) {
        // Only a bug in the loop itself (a metrics or tracing failure) lands here; keep working.
        log.error({ err, key }, 'controller loop failed around a reconcile pass');
      } finally {
        queue.done(key);
      }
    }
  };

  return {
    name: opts.name,
    enqueue: (key) => queue.add(key),
    enqueueAfter: (key, ms) => queue.addAfter(key, ms),
    start() {
      if (workers || stopping) return;
      log.info({ workers: opts.workers }, 'starting workers');
      workers = Array.from({ length: opts.workers }, () => worker());
    },
    stop() {
      stopping ??= (async () => {
        abort.abort();
        await queue.shutDownWithDrain();
        await Promise.all(workers ?? []);
        opts.metrics.workqueueDepth(opts.name, 0);
        log.info('workers stopped');
      })();
      return stopping;
    },
    queueDepth: () => queue.len(),
  };
}

/**
 * Terminal errors were already surfaced on the object (a False condition, a Warning event), so
 * they log once at warn and are not retried. Other errors are retried with backoff: the first
 * failure of a key logs at error with the stack, its retries at warn with the message only (a
 * long outage would otherwise print a stack per key per retry). Failures while stopping are
 * expected (aborted calls) and log at debug.
 */
function logFailure(log: Logger, err: unknown, retries: number, stopping: boolean): void {
  if (stopping) {
    log.debug({ err }, 'reconcile failed while stopping');
  } else if (err instanceof TerminalError) {
    log.warn({ reason: err.reason, err: err.message }, 'reconcile failed terminally; not retrying');
  } else if (err instanceof RetryAfter) {
    log.info({ err: err.message, retryAfterMs: err.ms }, 'reconcile asked to retry later');
  } else if (retries === 0) {
    log.error({ err }, 'reconcile failed; retrying with backoff');
  } else {
    log.warn({ err: errorMessage(err), retries }, 'reconcile failed again; retrying with backoff');
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
