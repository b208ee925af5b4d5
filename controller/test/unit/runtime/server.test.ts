import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetrics } from '../../../src/observability/metrics.js';
import { buildHealthServer } from '../../../src/server.js';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

describe('buildHealthServer', () => {
  let server: Server | undefined;
  afterEach(async () => {
    if (server) await close(server);
    server = undefined;
  });

  it('does not listen by itself', () => {
    server = buildHealthServer({
      registry: createMetrics({ defaultMetrics: false }).registry,
      readyz: () => true,
    });
    expect(server.listening).toBe(false);
    server = undefined;
  });

  it('serves /healthz, /readyz with the reason when not ready, and /metrics', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.claimReady('warm', 0.012);
    metrics.poolReplicas('ns', 'pool-a', { desired: 3, ready: 2 });
    let ready: boolean | { ready: boolean; reason: string } = {
      ready: false,
      reason: 'caches not synced: pods',
    };
    let healthy = true;
    server = buildHealthServer({ registry: metrics.registry, readyz: () => ready, healthz: () => healthy });
    const base = await listen(server);

    const health = await fetch(`${base}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);

    const notReady = await fetch(`${base}/readyz`);
    expect([notReady.status, await notReady.text()]).toEqual([503, 'caches not synced: pods\n']);
    ready = true;
    const isReady = await fetch(`${base}/readyz`);
    expect([isReady.status, await isReady.text()]).toEqual([200, 'ok\n']);
    ready = { ready: false, reason: 'x' };
    expect((await fetch(`${base}/readyz?verbose=1`)).status).toBe(503);

    const m = await fetch(`${base}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await m.text();
    expect(body).toContain('sandbank_claim_ready_latency_seconds_bucket{le="0.012",launch_type="warm"} 1');
    expect(body).toContain('sandbank_pool_replicas{namespace="ns",pool="pool-a",state="ready"} 2');

    healthy = false;
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
  });
});
