/**
 * A tracer provider that keeps every span it starts, for tests of what the router traces. The
 * router takes its tracer from the OpenTelemetry API, which forwards to whatever provider is
 * registered globally, so registering this one is all a test needs (no SDK).
 */
import { randomBytes } from 'node:crypto';
import { SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import type { Span, SpanContext, SpanStatus, Tracer, TracerProvider } from '@opentelemetry/api';

export class RecordedSpan implements Span {
  readonly startedAt = performance.now();
  endedAt: number | undefined;
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  private readonly context: SpanContext = {
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    traceFlags: TraceFlags.SAMPLED,
  };

  constructor(public name: string) {}

  spanContext(): SpanContext {
    return this.context;
  }
  // What the router sets as attributes is not under test here.
  setAttribute(): this {
    return this;
  }
  setAttributes(): this {
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(name: string): this {
    this.name = name;
    return this;
  }
  end(): void {
    this.endedAt ??= performance.now();
  }
  isRecording(): boolean {
    return this.endedAt === undefined;
  }
  recordException(): void {
    // Not used by the router.
  }
}

export class RecordingTracerProvider implements TracerProvider {
  readonly spans: RecordedSpan[] = [];

  getTracer(): Tracer {
    const spans = this.spans;
    return {
      startSpan(name: string): Span {
        const span = new RecordedSpan(name);
        spans.push(span);
        return span;
      },
      startActiveSpan(): never {
        throw new Error('the router starts no active spans');
      },
    };
  }

  /** The spans named `name`, in the order they started. */
  named(name: string): RecordedSpan[] {
    return this.spans.filter((s) => s.name === name);
  }
}

/** Registers a recording provider for this test file (each file has its own globals). */
export function recordSpans(): RecordingTracerProvider {
  const provider = new RecordingTracerProvider();
  if (!trace.setGlobalTracerProvider(provider)) throw new Error('a tracer provider was registered already');
  return provider;
}
