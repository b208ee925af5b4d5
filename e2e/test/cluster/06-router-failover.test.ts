// The router with 2 replicas behind sandbox-router-svc, one killed (force delete) while exec
// requests stream in: every request still succeeds, and a client sees only retryable errors
// (502/503/504, connection refused/reset, unreachable, timeout) before a retry with backoff
// succeeds. Each request opens its own connection to the Service's ClusterIP, so kube-proxy
// spreads them over both replicas (a port-forward would pin one pod). Until kube-proxy has taken
// the dead pod out of the Service, about half the new connections go to it; how long that takes
// depends on how busy the machine is, so the test counts requests and time after the kill
// instead of running for a fixed time, and each request retries as a client would (backoff,
// a deadline) instead of a fixed number of times.
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
/** A client's patience per request, retries included (an attempt may take its 5 s timeout). */
const REQUEST_DEADLINE_MS = 20_000;
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
  /** Requests started before the kill; -1 until then. */
  let killedAt = -1;
  let killedTime = 0;
  let next = 0;
  // Enough traffic after the kill to see the dead endpoint and its removal from the Service.
  const AFTER_KILL_REQUESTS = 30;
  const AFTER_KILL_MS = 15_000;
  const enoughAfterKill = (): boolean =>
    killedAt >= 0 && next - killedAt >= AFTER_KILL_REQUESTS && since(killedTime) >= AFTER_KILL_MS;
  const worker = async (): Promise<void> => {
    while (!enoughAfterKill() && since(t0) < 120_000) {
      const i = next++;
      const outcomes: Outcome[] = [];
      requests.push(outcomes);
      const deadline = performance.now() + REQUEST_DEADLINE_MS;
      for (let backoff = 200; ; backoff = Math.min(backoff * 2, 2_000)) {
        const o = await attempt(i);
        outcomes.push(o);
        if (o === 'ok' || o.startsWith('fatal') || performance.now() + backoff > deadline) break;
        await new Promise((res) => setTimeout(res, backoff));
      }
    }
  };
  const killer = async (): Promise<void> => {
    await new Promise((res) => setTimeout(res, 5_000));
    await c.kubectl(['delete', 'pod', '-n', SYSTEM_NS, victim, '--grace-period=0', '--force']);
    killedAt = next;
    killedTime = performance.now();
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

  expect(enoughAfterKill()).toBe(true);
  expect(failures.filter((o) => o.startsWith('fatal'))).toEqual([]);
  // every request got through within its retry deadline
  expect(requests.filter((o) => o[o.length - 1] !== 'ok')).toEqual([]);

  // the Deployment replaced the killed pod
  await waitRollout(c, ROUTER_DEPLOYMENT);
  const after = (await getJson<{ items: Obj[] }>(c, ['pods', '-n', SYSTEM_NS, '-l', 'app=sandbox-router']))
    .items;
  expect(after.map((p) => p.metadata.name)).not.toContain(victim);
}, 240_000);
