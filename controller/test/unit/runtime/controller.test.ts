import { Writable } from 'node:stream';
import { createLogger } from '../../../src/observability/logger.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { SpanStatusCode } from '@opentelemetry/api';
import type { Span, Tracer } from '../../../src/observability/tracing.js';
import { createController, type ReconcileContext } from '../../../src/runtime/controller.js';
import { RetryAfter, TerminalError, done, requeueAfter, type Result } from '../../../src/runtime/result.js';
import { ManualClock } from './manual-clock.js';

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets queued promise callbacks and worker hand-offs run (no real time passes). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

interface RecordedSpan {
  readonly name: string;
  attributes: Record<string, unknown>;
  status?: { code: number; message?: string };
  ended: boolean;
}

/** Just enough of an OTel tracer to see the spans the loop opens (no SDK in this package). */
function recordingTracer(spans: RecordedSpan[]): Tracer {
  const startActiveSpan = (
    name: string,
    options: { attributes?: Record<string, unknown> },
    fn: (span: Span) => unknown,
  ) => {
    const rec: RecordedSpan = { name, attributes: { ...options.attributes }, ended: false };
    spans.push(rec);
    const span = {
      setAttribute: (k: string, v: unknown) => {
        rec.attributes[k] = v;
        return span;
      },
      setStatus: (status: { code: number; message?: string }) => {
        rec.status = status;
        return span;
      },
      recordException: () => undefined,
      end: () => {
        rec.ended = true;
      },
    };
    return fn(span as unknown as Span);
  };
  return { startActiveSpan, startSpan: () => undefined } as unknown as Tracer;
}

function setup(
  reconcile: (key: string, ctx: ReconcileContext) => Promise<Result>,
  workers = 1,
  tracer?: Tracer,
) {
  const clock = new ManualClock();
  const metrics = createMetrics({ defaultMetrics: false });
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ level: 'debug', destination: sink });
  const controller = createController({
    name: 'test',
    workers,
    reconcile,
    log,
    metrics,
    clock,
    ...(tracer ? { tracer } : {}),
  });
  return { clock, metrics, lines, controller };
}

async function counter(
  metrics: ReturnType<typeof createMetrics>,
  name: string,
): Promise<Record<string, number>> {
  const metric = metrics.registry.getSingleMetric(name);
  const out: Record<string, number> = {};
  for (const v of (await metric?.get())?.values ?? []) {
    if (v.labels['result'] !== undefined && !('le' in v.labels)) out[String(v.labels['result'])] = v.value;
  }
  return out;
}

describe('createController', () => {
  it('reconciles each enqueued key with a fresh id, logger and span, and counts the result', async () => {
    const seen: { key: string; ctx: ReconcileContext }[] = [];
    const { controller, metrics } = setup(async (key, ctx) => {
      seen.push({ key, ctx });
      return done;
    });
    controller.enqueue('ns/a');
    controller.enqueue('ns/b');
    controller.start();
    await settle();
    expect(seen.map((s) => s.key)).toEqual(['ns/a', 'ns/b']);
    expect(seen[0]?.ctx.reconcileId).not.toEqual(seen[1]?.ctx.reconcileId);
    expect(seen[0]?.ctx.retries).toBe(0);
    expect(seen[0]?.ctx.signal.aborted).toBe(false);
    expect(await counter(metrics, 'sandbank_reconcile_total')).toEqual({ success: 2 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('sandbank_reconcile_duration_seconds_count{controller="test",result="success"} 2');
    expect(text).toContain('sandbank_workqueue_depth{controller="test"} 0');
    await controller.stop();
  });

  it('retries errors with growing per-key backoff and resets it on success', async () => {
    let calls = 0;
    const retries: number[] = [];
    const { controller, clock, metrics, lines } = setup(async (_key, ctx) => {
      calls++;
      retries.push(ctx.retries);
      if (calls <= 3) throw new Error(`boom ${calls}`);
      return done;
    });
    controller.enqueue('k');
    controller.start();
    await settle();
    expect(calls).toBe(1);
    clock.advance(4);
    await settle();
    expect(calls).toBe(1); // backoff is 5 ms
    clock.advance(1);
    await settle();
    expect(calls).toBe(2);
    clock.advance(10);
    await settle();
    expect(calls).toBe(3);
    clock.advance(20);
    await settle();
    expect(calls).toBe(4);
    expect(retries).toEqual([0, 1, 2, 3]);
    expect(await counter(metrics, 'sandbank_reconcile_total')).toEqual({ error: 3, success: 1 });

    // First failure logs the error with its stack, later ones a warning.
    const failures = lines.filter((l) => String(l['msg']).startsWith('reconcile failed'));
    expect(failures.map((l) => l['level'])).toEqual(['error', 'warn', 'warn']);
    expect(failures[0]).toMatchObject({ controller: 'test', key: 'k', err: { message: 'boom 1' } });

    controller.enqueue('k'); // backoff was forgotten on success
    await settle();
    expect(retries[4]).toBe(0);
    await controller.stop();
  });

  it('requeues after the requested delay and does not hot-loop on terminal errors', async () => {
    const calls = new Map<string, number>();
    const { controller, clock, lines } = setup(async (key) => {
      calls.set(key, (calls.get(key) ?? 0) + 1);
      if (key === 'timer') return requeueAfter(1_000);
      if (key === 'retry') throw new RetryAfter(300, 'not yet');
      throw new TerminalError('TemplateNotFound', 'template t does not exist');
    });
    controller.enqueue('timer');
    controller.enqueue('retry');
    controller.enqueue('terminal');
    controller.start();
    await settle();
    clock.advance(299);
    await settle();
    expect(calls.get('retry')).toBe(1);
    clock.advance(1);
    await settle();
    expect(calls.get('retry')).toBe(2);
    clock.advance(700);
    await settle();
    expect(calls.get('timer')).toBe(2);
    clock.advance(60_000);
    await settle();
    expect(calls.get('terminal')).toBe(1);
    const terminal = lines.find((l) => l['reason'] === 'TemplateNotFound');
    expect(terminal).toMatchObject({ level: 'warn', key: 'terminal' });
    await controller.stop();
  });

  it('never runs two passes of one key at once, and runs again for a change made meanwhile', async () => {
    const gates: Deferred<Result>[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const { controller } = setup(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const gate = deferred<Result>();
      gates.push(gate);
      const r = await gate.promise;
      inFlight--;
      return r;
    }, 4);
    controller.start();
    controller.enqueue('k');
    await settle();
    controller.enqueue('k');
    controller.enqueue('k');
    await settle();
    expect(gates).toHaveLength(1);
    gates[0]?.resolve(done);
    await settle();
    expect(gates).toHaveLength(2); // exactly one more pass for the two adds
    gates[1]?.resolve(done);
    await settle();
    expect(gates).toHaveLength(2);
    expect(maxInFlight).toBe(1);
    await controller.stop();
  });

  it('runs distinct keys concurrently up to the worker count', async () => {
    const gates: Deferred<Result>[] = [];
    const { controller } = setup(async () => {
      const gate = deferred<Result>();
      gates.push(gate);
      return gate.promise;
    }, 3);
    for (const k of ['a', 'b', 'c', 'd', 'e']) controller.enqueue(k);
    expect(controller.queueDepth()).toBe(5);
    controller.start();
    await settle();
    expect(gates).toHaveLength(3);
    expect(controller.queueDepth()).toBe(2);
    for (const g of gates) g.resolve(done);
    await settle();
    expect(gates).toHaveLength(5);
    for (const g of gates) g.resolve(done);
    await controller.stop();
  });

  it('stop aborts the signal, drains passes in flight and takes no new keys', async () => {
    const gate = deferred<Result>();
    let signal: AbortSignal | undefined;
    let calls = 0;
    const { controller } = setup(async (_key, ctx) => {
      calls++;
      signal = ctx.signal;
      return gate.promise;
    });
    controller.enqueue('a');
    controller.start();
    await settle();
    let stopped = false;
    const stopping = controller.stop().then(() => (stopped = true));
    await settle();
    expect(signal?.aborted).toBe(true);
    expect(stopped).toBe(false);
    controller.enqueue('b');
    gate.resolve(done);
    await stopping;
    expect(stopped).toBe(true);
    expect(calls).toBe(1);
  });

  it('opens one span per pass, marked failed when the pass throws', async () => {
    const spans: RecordedSpan[] = [];
    const { controller } = setup(
      async (key) => {
        if (key === 'bad') throw new Error('nope');
        return done;
      },
      1,
      recordingTracer(spans),
    );
    controller.enqueue('good');
    controller.enqueue('bad');
    controller.start();
    await settle();
    await controller.stop();
    expect(
      spans.map((s) => [s.name, s.attributes['sandbank.key'], s.attributes['sandbank.result'], s.ended]),
    ).toEqual([
      ['reconcile test', 'good', 'success', true],
      ['reconcile test', 'bad', 'error', true],
    ]);
    expect(spans[0]?.status).toBeUndefined();
    expect(spans[1]?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'nope' });
    expect(typeof spans[0]?.attributes['sandbank.reconcile_id']).toBe('string');
  });

  it('rejects a worker count below one', () => {
    expect(() => setup(async () => done, 0)).toThrow(/workers must be a positive integer/);
  });
});
