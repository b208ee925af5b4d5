/**
 * Prometheus metrics, on a registry of their own per app (so that two routers in one process,
 * as in tests, never collide). Label values come from closed sets only: surface, route template,
 * error code, auth mode and decision. Never a sandbox name, a UID or a raw error.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Surface = 'legacy' | 'v1' | 'ws' | 'grpc' | 'proxy' | 'system';

/**
 * Why a pod's HTTP response was refused or cut: a status outside 200–599 (or too many 1xx), a
 * header that cannot be forwarded, bytes the HTTP parser refused, the connection closing early;
 * for a WebSocket upgrade, a switch to another protocol or a Sec-WebSocket-Accept not answering
 * the client's key.
 */
export type UpstreamRejection =
  'bad_status' | 'bad_header' | 'malformed' | 'closed' | 'not_websocket' | 'bad_accept';

export interface RouterMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'surface' | 'route' | 'code'>;
  readonly duration: Histogram<'surface' | 'route'>;
  readonly inflight: Gauge<'surface'>;
  readonly upstreamErrors: Counter<'code'>;
  readonly upstreamRejected: Counter<'reason'>;
  readonly bufferedOutput: Gauge;
  readonly authDecisions: Counter<'mode' | 'decision'>;
  readonly wsSessions: Gauge;
  readonly bytes: Counter<'direction'>;
  /** `X-Sandbox-Pod-IP` hints (never dialled) against the pod the router resolved. */
  readonly podIpHints: Counter<'result'>;
  /** The port route's answers (and preview links'), by kind (http, websocket) and status class. */
  readonly portRequests: Counter<'kind' | 'status'>;
  /** Bytes the port route relayed, by direction (to_sandbox, from_sandbox). */
  readonly portBytes: Counter<'direction'>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): RouterMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'sandbank_router_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'sandbank_router_requests_total',
      help: 'Requests and streams handled, by surface, route template and result code ("ok" or an error code).',
      labelNames: ['surface', 'route', 'code'],
      registers,
    }),
    duration: new Histogram({
      name: 'sandbank_router_request_duration_seconds',
      help: 'Time from request (or upgrade) to the end of the response (or stream).',
      labelNames: ['surface', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    inflight: new Gauge({
      name: 'sandbank_router_inflight_requests',
      help: 'Requests and streams in progress.',
      labelNames: ['surface'],
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'sandbank_router_upstream_errors_total',
      help: 'Failures talking to a sandbox (agent or legacy HTTP runtime), by router error code.',
      labelNames: ['code'],
      registers,
    }),
    upstreamRejected: new Counter({
      name: 'sandbank_router_upstream_rejected_total',
      help: 'Pod HTTP responses refused (502) or cut by the port proxy, by reason (bad_status, bad_header, malformed, closed, not_websocket, bad_accept).',
      labelNames: ['reason'],
      registers,
    }),
    bufferedOutput: new Gauge({
      name: 'sandbank_router_buffered_output_bytes',
      help: 'Bytes of buffered exec output reserved by requests in flight (the budget is ROUTER_BUFFERED_OUTPUT_BUDGET_BYTES).',
      registers,
    }),
    authDecisions: new Counter({
      name: 'sandbank_router_auth_decisions_total',
      help: 'Authentication and authorization decisions, by mode and decision.',
      labelNames: ['mode', 'decision'],
      registers,
    }),
    wsSessions: new Gauge({
      name: 'sandbank_router_websocket_sessions',
      help: 'Open WebSocket exec sessions.',
      registers,
    }),
    bytes: new Counter({
      name: 'sandbank_router_stream_bytes_total',
      help: 'Payload bytes relayed, by direction (to_sandbox, from_sandbox).',
      labelNames: ['direction'],
      registers,
    }),
    podIpHints: new Counter({
      name: 'sandbank_router_pod_ip_hint_total',
      help: 'X-Sandbox-Pod-IP headers compared with the resolved pod (match, mismatch, invalid); the header is never a dial target.',
      labelNames: ['result'],
      registers,
    }),
    portRequests: new Counter({
      name: 'sandbank_router_port_requests_total',
      help: 'Requests and WebSocket upgrades on the port route and preview links, by kind (http, websocket) and status class (2xx…5xx).',
      labelNames: ['kind', 'status'],
      registers,
    }),
    portBytes: new Counter({
      name: 'sandbank_router_port_bytes_total',
      help: 'Bytes relayed by the port route and preview links, by direction (to_sandbox, from_sandbox).',
      labelNames: ['direction'],
      registers,
    }),
  };
}
