import { Metadata } from '@grpc/grpc-js';
import { context, trace } from '@opentelemetry/api';
import { installPropagator } from '../../src/index.js';
import { extractContext, injectIntoMetadata, tracer } from '../../src/observability/tracing.js';

test('W3C trace context flows from the request headers into the agent metadata', () => {
  installPropagator();
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const ctx = extractContext({ traceparent, tracestate: 'k=v' });
  expect(trace.getSpanContext(ctx)?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
  const span = tracer.startSpan('x', {}, ctx);
  const md = injectIntoMetadata(new Metadata(), ctx, span);
  expect(md.get('traceparent')[0]).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
  span.end();
  expect(trace.getSpanContext(extractContext({ traceparent: 'garbage' }))).toBeUndefined();
  expect(injectIntoMetadata(new Metadata(), context.active()).get('traceparent')).toEqual([]);
});
