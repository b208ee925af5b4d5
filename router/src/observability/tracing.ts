/**
 * Traces: one span per request (a no-op until an OpenTelemetry SDK is registered), and W3C trace
 * context carried from the client's `traceparent` into the gRPC metadata of the agent call, so the
 * agent's spans join the client's trace even when the router itself records nothing.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import type { Context, Span, TextMapPropagator, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { TraceFlags, isSpanContextValid } from '@opentelemetry/api';
import type { Metadata } from '@grpc/grpc-js';

export const tracer = trace.getTracer('sandbank-router');

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C Trace Context propagator (traceparent + tracestate, version 00). Written here because
 * @opentelemetry/core's releases that fit our @opentelemetry/api need a newer Node.
 */
export class W3CTraceContext implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const sc = trace.getSpanContext(ctx);
    if (!sc || !isSpanContextValid(sc)) return;
    const flags = (sc.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0');
    setter.set(carrier, TRACEPARENT, `00-${sc.traceId}-${sc.spanId}-${flags}`);
    const state = sc.traceState?.serialize();
    if (state) setter.set(carrier, TRACESTATE, state);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const raw = getter.get(carrier, TRACEPARENT);
    const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
    const m = value === undefined ? null : TRACEPARENT_RE.exec(value);
    if (!m?.[1] || !m[2] || !m[3]) return ctx;
    const sc = {
      traceId: m[1],
      spanId: m[2],
      traceFlags: parseInt(m[3], 16) & TraceFlags.SAMPLED,
      isRemote: true,
    };
    if (!isSpanContextValid(sc)) return ctx;
    return trace.setSpanContext(ctx, sc);
  }

  fields(): string[] {
    return [TRACEPARENT, TRACESTATE];
  }
}

/** Installs the W3C propagator globally (main.ts, and tests that check propagation). */
export function installPropagator(): void {
  propagation.setGlobalPropagator(new W3CTraceContext());
}

const headerGetter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  keys: (c) => Object.keys(c),
  get: (c, k) => c[k.toLowerCase()],
};

/** The context of an incoming request's trace headers (HTTP headers or gRPC metadata as a map). */
export function extractContext(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(context.active(), headers, headerGetter);
}

const metadataSetter: TextMapSetter<Metadata> = { set: (md, k, v) => md.set(k, v) };

/** Writes the trace context of `span` (or of `ctx`) into gRPC metadata for the agent. */
export function injectIntoMetadata(md: Metadata, ctx: Context, span?: Span): Metadata {
  propagation.inject(span ? trace.setSpan(ctx, span) : ctx, md, metadataSetter);
  return md;
}
