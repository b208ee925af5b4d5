/**
 * The controller's HTTP surface: `/healthz` (liveness), `/readyz` (caches synced), `/metrics`
 * (Prometheus text). Built, never listened: main.ts listens, tests use 127.0.0.1:0.
 */
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/** `true`/`false`, or a verdict with the reason shown on 503. */
export type Probe = () => boolean | { readonly ready: boolean; readonly reason?: string };

export interface HealthServerOptions {
  readonly registry: Registry;
  readonly readyz: Probe;
  /** Defaults to always healthy. */
  readonly healthz?: () => boolean;
}

export function buildHealthServer(opts: HealthServerOptions): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/healthz': {
        const healthy = opts.healthz?.() ?? true;
        text(res, healthy ? 200 : 503, healthy ? 'ok\n' : 'unhealthy\n');
        return;
      }
      case '/readyz': {
        const verdict = opts.readyz();
        const ready = typeof verdict === 'boolean' ? verdict : verdict.ready;
        const reason = typeof verdict === 'boolean' ? 'not ready' : (verdict.reason ?? 'not ready');
        text(res, ready ? 200 : 503, ready ? 'ok\n' : `${reason}\n`);
        return;
      }
      case '/metrics':
        opts.registry.metrics().then(
          (body) => text(res, 200, body, { 'content-type': opts.registry.contentType }),
          (err: unknown) =>
            text(
              res,
              500,
              `metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`,
            ),
        );
        return;
      default:
        text(res, 404, 'not found\n');
    }
  });
}

function text(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
