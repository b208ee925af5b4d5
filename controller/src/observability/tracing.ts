/**
 * OpenTelemetry through `@opentelemetry/api` only: spans are no-ops until main.ts (or a test)
 * registers an SDK, so the runtime pays nothing for tracing it does not export.
 */
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Span, Tracer } from '@opentelemetry/api';

export const TRACER_NAME = 'sandbank-controller';

/** The controller's tracer (resolved through the global provider at call time). */
export function getTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** Marks `span` failed with `err` (message only: no object contents in span attributes). */
export function recordSpanError(span: Span, err: unknown): void {
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

export type { Span, Tracer };
