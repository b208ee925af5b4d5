// The router with 2 replicas behind sandbox-router-svc, one killed (force delete) while exec
// requests stream in: every request still succeeds, and a client sees at most retryable errors
// (502/503/504, connection refused/reset, unreachable, timeout) before its retry succeeds. Each
// request opens its own connection to the Service's ClusterIP, so kube-proxy spreads them over
// both replicas (a port-forward would pin one pod).
import type { Obj } from '@sandbank/testing';
import {
  POOL_NS,
  ROUTER_DEPLOYMENT,
  SYSTEM_NS,
  claimForSuite,
  getJson,
  http,
  releaseSandbox,
  sandboxUrl,
  since,
  waitRollout,
} from './helpers.js';
import type { Cluster, Router } from './helpers.js';

const NAME = 'e2e-router';
let c: Cluster;
let r: Router;

beforeAll(async () => {
  ({ c, r } = await claimForSuite(NAME));
  await c.kubectl(['scale', '-n', SYSTEM_NS, `deployment/${ROUTER_DEPLOYMENT}`, '--replicas=2']);
  await waitRollout(c, ROUTER_DEPLOYMENT);
}, 240_000);

afterAll(async () => {
  await c.kubectl(['scale', '-n', SYSTEM_NS, `deployment/${ROUTER_DEPLOYMENT}`, '--replicas=1']);
  await waitRollout(c, ROUTER_DEPLOYMENT);
  await releaseSandbox(c, NAME);
}, 240_000);

type Outcome = 'ok' | `retryable:${string}` | `fatal:${string}`;
const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT', 'EPIPE']);

async function attempt(i: number): Promise<Outcome> {
  try {
    const res = await http(sandboxUrl(r, POOL_NS, NAME, 'exec'), {
      method: 'POST',
      headers: { authorization: `Bearer ${r.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ command: ['echo', String(i)] }),
      timeoutMs: 5_000,
    });
    if (res.status === 200) {
      const body = JSON.parse(res.body.toString()) as { stdout: string; exitCode: number };
      return body.stdout === `${i}\n` && body.exitCode === 0
        ? 'ok'
        : `fatal:wrong output ${res.body.toString()}`;
    }
    if ([502, 503, 504].includes(res.status)) return `retryable:${res.status}`;
    return `fatal:${res.status} ${res.body.toString().slice(0, 200)}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const message = err instanceof Error ? err.message : String(err);
    if (RETRYABLE_CODES.has(code) || message === 'socket hang up') return `retryable:${code || message}`;
    return `fatal:${code} ${message}`;
  }
}

test('killing one of two routers mid-traffic costs clients at most a retry', async () => {
  const pods = (await getJson<{ items: Obj[] }>(c, ['pods', '-n', SYSTEM_NS, '-l', 'app=sandbox-router']))
    .items;
  expect(pods).toHaveLength(2);
  const victim = pods[0]?.metadata.name ?? '';

  const requests: Outcome[][] = [];
  const t0 = performance.now();
  let killedAt = -1;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (since(t0) < 25_000) {
      const i = next++;
      const outcomes: Outcome[] = [];
      requests.push(outcomes);
      for (let n = 0; n < 6; n++) {
        const o = await attempt(i);
        outcomes.push(o);
        if (o === 'ok' || o.startsWith('fatal')) break;
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  };
  const killer = async (): Promise<void> => {
    await new Promise((res) => setTimeout(res, 5_000));
    killedAt = next;
    await c.kubectl(['delete', 'pod', '-n', SYSTEM_NS, victim, '--grace-period=0', '--force']);
  };
  await Promise.all([worker(), worker(), worker(), killer()]);

  const failures = requests.flat().filter((o) => o !== 'ok');
  const retried = requests.filter((o) => o.length > 1);
  const summary = new Map<string, number>();
  for (const f of failures) summary.set(f, (summary.get(f) ?? 0) + 1);
  process.stderr.write(
    `[e2e] router failover: ${requests.length} requests (${requests.length - killedAt} after the kill), ` +
      `${retried.length} retried, max attempts ${Math.max(...requests.map((o) => o.length))}, ` +
      `failures ${JSON.stringify(Object.fromEntries(summary))}\n`,
  );

  expect(killedAt).toBeGreaterThan(0);
  expect(requests.length - killedAt).toBeGreaterThan(20);
  expect(failures.filter((o) => o.startsWith('fatal'))).toEqual([]);
  // every request got through; none needed more than two retries
  expect(requests.filter((o) => o[o.length - 1] !== 'ok')).toEqual([]);
  expect(Math.max(...requests.map((o) => o.length))).toBeLessThanOrEqual(3);

  // the Deployment replaced the killed pod
  await waitRollout(c, ROUTER_DEPLOYMENT);
  const after = (await getJson<{ items: Obj[] }>(c, ['pods', '-n', SYSTEM_NS, '-l', 'app=sandbox-router']))
    .items;
  expect(after.map((p) => p.metadata.name)).not.toContain(victim);
}, 180_000);
