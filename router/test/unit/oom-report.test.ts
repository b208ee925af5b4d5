/**
 * A call whose sandbox went over its memory limit: the agent's connection breaks mid-call (under
 * gVisor the whole sandbox dies, the agent with it), and the kubelet records `OOMKilled` in the
 * Pod's container status, which the router caches. WebSocket exec closes with 4507 and HTTP exec
 * answers 507, both `sandbox_oom_killed`; a break the Pod does not explain, or an OOM kill it
 * recorded before the call, stays `upstream_unavailable`. The Pod status parser reads the current
 * and the last termination of every container; the wait on the Pod cache is bounded.
 */
import { OOM_REPORT_WAIT_MS } from '../../src/agent/broken-stream.js';
import { lastOomKillMs, oomKilledAfter } from '../../src/resolve/model.js';
import type { PodEntry } from '../../src/resolve/model.js';
import { PodChanges } from '../../src/resolve/pod-changes.js';
import { startHostileAgent } from '../helpers/hostile-agent.js';
import type { AgentScript, HostileAgent } from '../helpers/hostile-agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';
import type { StaticLookup } from '../helpers/static-lookup.js';
import { openExec } from '../helpers/ws.js';

const TIMEOUT_MS = 60_000;
const IP = '127.0.0.73';
const NO_AGENT_IP = '127.0.0.74';

let agent: HostileAgent;
let lookup: StaticLookup;
let router: TestRouter;
/** Sandboxes whose Pod the kubelet marks OOMKilled as soon as their agent gets a call. */
const killedOnCall = new Set<string>();
/** Which sandbox the next call is for (each test runs one call at a time per sandbox). */
let calling = '';

beforeAll(async () => {
  lookup = staticLookup([
    ...['oom', 'crash', 'old-oom', 'ws-oom', 'ws-crash'].map((name) => ({
      namespace: 'default',
      name,
      ip: IP,
    })),
    // Nothing listens there: every dial is refused.
    { namespace: 'default', name: 'no-agent', ip: NO_AGENT_IP },
  ]);
  agent = await startHostileAgent(IP, {
    onCall: () => {
      if (killedOnCall.has(calling)) lookup.recordOomKill('default', calling, Date.now());
    },
  });
  router = await startRouter({ lookup, agentPorts: { grpcPort: agent.port } });
}, TIMEOUT_MS);

afterAll(async () => {
  await router?.close();
  await agent?.close();
}, TIMEOUT_MS);

/** The agent starts the call (Exec: `started`), then its connection is gone. */
const dies = (frames: AgentScript['frames'] = []): AgentScript => ({
  status: 200,
  contentType: 'application/grpc',
  trailersOnly: false,
  frames,
  grpcStatus: undefined,
  grpcMessage: undefined,
  ending: 'destroy',
});

async function httpExec(name: string): Promise<{ status: number; code: string | null; text: string }> {
  calling = name;
  agent.push(dies());
  const res = await fetch(`${router.url}/v1/namespaces/default/sandboxes/${name}/exec`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ shell: 'allocate a lot' }),
  });
  return { status: res.status, code: res.headers.get('x-sandbank-error-code'), text: await res.text() };
}

async function wsExec(name: string): Promise<{ code: number; reason: string; error: unknown }> {
  calling = name;
  agent.push(dies([{ kind: 'reply', size: 0 }]));
  const s = await openExec(`${router.wsUrl}/v1/namespaces/default/sandboxes/${name}/exec`);
  s.ws.send(JSON.stringify({ type: 'start', shell: 'allocate a lot' }));
  const closed = await s.closed;
  return { ...closed, error: s.texts.find((t) => (t as { type?: string }).type === 'error') };
}

test(
  'HTTP exec whose sandbox the memory limit killed mid-call is 507 sandbox_oom_killed',
  async () => {
    killedOnCall.add('oom');
    const got = await httpExec('oom');
    expect(got).toMatchObject({ status: 507, code: 'sandbox_oom_killed' });
    expect(got.text).toContain('memory limit');
  },
  TIMEOUT_MS,
);

test(
  'WebSocket exec whose sandbox the memory limit killed mid-session closes 4507 sandbox_oom_killed',
  async () => {
    killedOnCall.add('ws-oom');
    const got = await wsExec('ws-oom');
    expect(got.code).toBe(4507);
    expect(got.reason).toMatch(/^sandbox_oom_killed: /);
    expect(got.error).toMatchObject({ type: 'error', code: 'sandbox_oom_killed' });
  },
  TIMEOUT_MS,
);

test(
  'a break the Pod does not explain, or an OOM kill recorded before the call, stays upstream_unavailable',
  async () => {
    // Killed once before: the Pod's last termination is old news for this call.
    lookup.recordOomKill('default', 'old-oom', Date.now() - 60_000);
    const started = Date.now();
    const [crash, old, wsCrash] = [
      await httpExec('crash'),
      await httpExec('old-oom'),
      await wsExec('ws-crash'),
    ];
    expect(crash).toMatchObject({ status: 502, code: 'upstream_unavailable' });
    expect(old).toMatchObject({ status: 502, code: 'upstream_unavailable' });
    expect(wsCrash.code).toBe(4502);
    expect(wsCrash.reason).toMatch(/^upstream_unavailable: /);
    // Each waited for the kubelet's report, and no longer than the bound.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * OOM_REPORT_WAIT_MS);
  },
  TIMEOUT_MS,
);

test(
  'a dial that never connects is upstream_unavailable at once: only a call that broke can be an OOM kill',
  async () => {
    const started = Date.now();
    const http = await fetch(`${router.url}/v1/namespaces/default/sandboxes/no-agent/exec`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ shell: 'true' }),
    });
    const ws: unknown = await openExec(`${router.wsUrl}/v1/namespaces/default/sandboxes/no-agent/exec`).catch(
      (error: unknown) => error,
    );
    expect(http.status).toBe(502);
    expect(http.headers.get('x-sandbank-error-code')).toBe('upstream_unavailable');
    expect(ws).toMatchObject({ statusCode: 502 });
    expect(Date.now() - started).toBeLessThan(OOM_REPORT_WAIT_MS);
  },
  TIMEOUT_MS,
);

describe('lastOomKillMs: the Pod status record', () => {
  const at = (s: string) => Date.parse(s);
  const status = (...containers: unknown[]) => ({ phase: 'Running', containerStatuses: containers });
  test.each([
    [
      'a current OOMKilled termination',
      status({
        name: 'a',
        state: { terminated: { reason: 'OOMKilled', finishedAt: '2026-12-07T10:00:00Z' } },
      }),
      at('2026-12-07T10:00:00Z'),
    ],
    [
      'the last termination of a restarted container',
      status({
        name: 'a',
        state: { running: {} },
        lastState: { terminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: '2026-12-07T10:00:05Z' } },
      }),
      at('2026-12-07T10:00:05Z'),
    ],
    [
      'the latest of several containers',
      status(
        { name: 'a', lastState: { terminated: { reason: 'OOMKilled', finishedAt: '2026-12-07T10:00:05Z' } } },
        { name: 'b', state: { terminated: { reason: 'OOMKilled', finishedAt: '2026-12-07T10:01:00Z' } } },
      ),
      at('2026-12-07T10:01:00Z'),
    ],
    [
      'another reason',
      status({ name: 'a', state: { terminated: { reason: 'Error', finishedAt: '2026-12-07T10:00:00Z' } } }),
      undefined,
    ],
    [
      'an OOMKilled without finishedAt (no time to compare)',
      status({ name: 'a', state: { terminated: { reason: 'OOMKilled' } } }),
      undefined,
    ],
    ['no container statuses', { phase: 'Pending' }, undefined],
    ['an unreadable status', { containerStatuses: 'x' }, undefined],
    ['no status', undefined, undefined],
  ])('%s', (_what, podStatus, want) => {
    expect(lastOomKillMs(podStatus)).toBe(want);
  });
});

describe('oomKilledAfter: the verdict on a broken call from the cached Pod', () => {
  const ref = { namespace: 'default', name: 'p', uid: 'u1' };
  const pod = (o: Partial<PodEntry> = {}): PodEntry => ({
    namespace: 'default',
    name: 'p',
    uid: 'u1',
    ip: '10.0.0.1',
    canonicalIp: '10.0.0.1',
    ready: true,
    deleting: false,
    pooled: false,
    controller: undefined,
    protocol: 'grpc',
    agentCredential: undefined,
    declaredPorts: [],
    anyPort: false,
    lastOomKillMs: undefined,
    ...o,
  });

  test.each<[string, PodEntry | undefined, number | undefined, boolean | undefined]>([
    ['an OOM kill after the call was routed', pod({ lastOomKillMs: 2_000 }), 1_000, true],
    ['an OOM kill, none known at routing', pod({ lastOomKillMs: 2_000 }), undefined, true],
    [
      'only the OOM kill known at routing: wait for a newer one',
      pod({ lastOomKillMs: 1_000 }),
      1_000,
      undefined,
    ],
    ['no OOM kill yet, the Pod running: wait', pod(), undefined, undefined],
    [
      'the Pod being deleted, no new kill: the deletion explains it',
      pod({ deleting: true }),
      undefined,
      false,
    ],
    ['the Pod gone from the cache', undefined, undefined, false],
    [
      'another Pod under the name (new UID), even OOM-killed',
      pod({ uid: 'u2', lastOomKillMs: 2_000 }),
      1_000,
      false,
    ],
  ])('%s', (_what, entry, afterMs, want) => {
    expect(oomKilledAfter(entry, ref, afterMs)).toBe(want);
  });
});

describe('PodChanges: a condition on the Pod cache, awaited for a bounded time', () => {
  const POD = { namespace: 'default', name: 'pod-a' };

  test("a change wakes only the waits on that Pod, each at its own Pod's change", async () => {
    const changes = new PodChanges();
    const other = { namespace: 'default', name: 'pod-b' };
    const checked = { [POD.name]: 0, [other.name]: 0 };
    const verdict: { [name: string]: boolean | undefined } = {};
    const waitOn = (pod: typeof POD) =>
      changes.until(
        pod,
        () => {
          checked[pod.name] = (checked[pod.name] ?? 0) + 1;
          return verdict[pod.name];
        },
        60_000,
        new AbortController().signal,
      );
    const [a, b] = [waitOn(POD), waitOn(other)];
    verdict[POD.name] = true;
    verdict[other.name] = false;
    changes.changed(POD);
    await expect(a).resolves.toBe(true);
    expect(checked).toEqual({ [POD.name]: 2, [other.name]: 1 });
    changes.changed({ namespace: 'elsewhere', name: other.name });
    expect(checked[other.name]).toBe(1);
    changes.changed(other);
    await expect(b).resolves.toBe(false);
    expect(checked).toEqual({ [POD.name]: 2, [other.name]: 2 });
  });

  test('a change that makes it hold ends the wait at once', async () => {
    const changes = new PodChanges();
    const pod: { verdict?: boolean } = {};
    const waiting = changes.until(POD, () => pod.verdict, 60_000, new AbortController().signal);
    changes.changed(POD);
    pod.verdict = true;
    changes.changed(POD);
    await expect(waiting).resolves.toBe(true);
  });

  test('a change that settles it false ends the wait at once, false', async () => {
    const changes = new PodChanges();
    const pod: { verdict?: boolean } = {};
    const waiting = changes.until(POD, () => pod.verdict, 60_000, new AbortController().signal);
    pod.verdict = false;
    changes.changed(POD);
    await expect(waiting).resolves.toBe(false);
  });

  test('it ends false at its bound, or when the signal aborts, and leaves nothing behind', async () => {
    const changes = new PodChanges();
    let checks = 0;
    const never = (): undefined => {
      checks++;
      return undefined;
    };
    await expect(changes.until(POD, never, 20, new AbortController().signal)).resolves.toBe(false);
    const abort = new AbortController();
    const waiting = changes.until(POD, never, 60_000, abort.signal);
    abort.abort();
    await expect(waiting).resolves.toBe(false);
    // Each was checked once, when it began; a later change checks only the one still waiting.
    const pending = changes.until(POD, never, 20, new AbortController().signal);
    changes.changed(POD);
    await pending;
    expect(checks).toBe(4);
  });
});
