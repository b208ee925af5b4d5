/**
 * Per-caller limits count the authenticated principal, never a connection: more gRPC channels do
 * not buy more concurrent calls, tenants behind one load balancer address keep separate budgets,
 * and a gRPC caller cannot choose a deadline past the router's maximum. A real agent behind a
 * router on loopback.
 */
import { credentials, status } from '@grpc/grpc-js';
import type { Metadata } from '@grpc/grpc-js';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import type { AgentClient, AgentPromiseClient, ExecResponse } from '@sandbank/proto';
import { namespaceScope, tokenAuthenticator } from '../../src/index.js';
import type { Authenticator, Limits } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { sandboxMetadata } from '../helpers/routed-agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';
import { openExec } from '../helpers/ws.js';

/** Each test starts processes on a busy machine: generous, but a hang still fails. */
const TIMEOUT_MS = 60_000;
const IP = '127.0.0.61';
const TEAM_A = 'team-a-token-0123456789';
const TEAM_B = 'team-b-token-0123456789';

let agent: TestAgent;
const routers: TestRouter[] = [];
const channels: AgentClient[] = [];

beforeAll(async () => {
  agent = await startAgent({ ip: IP, grpcPort: 0 });
}, TIMEOUT_MS);

afterAll(async () => {
  for (const c of channels) c.close();
  for (const r of routers) await r.close();
  await agent?.close();
}, TIMEOUT_MS);

async function router(limits: Partial<Limits>, auth?: Authenticator): Promise<TestRouter> {
  const r = await startRouter({
    lookup: staticLookup([{ namespace: 'default', name: 'sb', ip: IP }]),
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
    limits,
    ...(auth ? { auth } : {}),
  });
  routers.push(r);
  return r;
}

/** A client on its own HTTP/2 connection (grpc-js otherwise shares one per target). */
function channel(r: TestRouter): AgentPromiseClient {
  const client = createAgentClient(r.grpcAddress, credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  channels.push(client);
  return createAgentPromiseClient(client);
}

/** `promise`, or a failure naming `what` after `ms`: a regression must fail, never hang. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An exec held open on `client` (a `cat` waiting for stdin) until `end()`. */
async function holdExec(
  client: AgentPromiseClient,
  metadata: Metadata,
): Promise<{ end: () => Promise<void> }> {
  const exec = client.exec({ metadata });
  exec.write({
    frame: {
      case: 'start',
      value: { process: { command: { case: 'argv', value: { args: ['cat'] } } }, stdin: true },
    },
  });
  const responses: AsyncIterator<ExecResponse> = exec[Symbol.asyncIterator]();
  const first = await responses.next();
  if (first.done === true) throw new Error('the exec ended before it started');
  expect(first.value.event.case).toBe('started');
  return {
    end: async () => {
      exec.write({ frame: { case: 'closeStdin', value: {} } });
      exec.end();
      for (let r = await responses.next(); !r.done; r = await responses.next());
    },
  };
}

function bearer(token: string, md = sandboxMetadata()): Metadata {
  md.set('authorization', `Bearer ${token}`);
  return md;
}

test(
  '5 gRPC channels of one caller against a limit of 2: the third concurrent call is refused',
  async () => {
    const r = await router({ maxStreamsPerCaller: 2 });
    // Five channels: two hold a stream each, the other three ask for more.
    const held = [
      await holdExec(channel(r), sandboxMetadata()),
      await holdExec(channel(r), sandboxMetadata()),
    ];
    const others = [channel(r), channel(r), channel(r)];
    for (const c of others) {
      const refused = await c.stat({ path: '.' }, { metadata: sandboxMetadata() }).catch((e: unknown) => e);
      expect(refused).toMatchObject({
        code: status.RESOURCE_EXHAUSTED,
        details: expect.stringMatching(/^too_many_streams: /),
      });
    }
    for (const h of held) await h.end();
    for (const c of others) {
      await expect(c.stat({ path: '.' }, { metadata: sandboxMetadata() })).resolves.toBeDefined();
    }
  },
  TIMEOUT_MS,
);

test(
  'token mode behind one load balancer address: one tenant at its limit does not refuse another',
  async () => {
    const r = await router(
      { maxStreamsPerCaller: 2 },
      tokenAuthenticator({
        'team-a': { token: TEAM_A, namespaces: namespaceScope(['default']) },
        'team-b': { token: TEAM_B, namespaces: namespaceScope(['default']) },
      }),
    );
    // Every connection below comes from 127.0.0.1, as through a load balancer.
    const url = `${r.wsUrl}/v1/namespaces/default/sandboxes/sb/exec`;
    const stat = `${r.url}/v1/namespaces/default/sandboxes/sb/stat`;
    const a = { authorization: `Bearer ${TEAM_A}` };
    const sessions = [await openExec(url, a), await openExec(url, a)];
    const third = await fetch(stat, { headers: a });
    expect(third.status).toBe(429);
    expect(((await third.json()) as { error: { code: string } }).error.code).toBe('too_many_streams');
    const b = await fetch(stat, { headers: { authorization: `Bearer ${TEAM_B}` } });
    expect(b.status).toBe(200);
    await b.arrayBuffer();
    await expect(channel(r).stat({ path: '.' }, { metadata: bearer(TEAM_B) })).resolves.toBeDefined();
    for (const s of sessions) {
      s.ws.close();
      await s.closed;
    }
  },
  TIMEOUT_MS,
);

test(
  "a gRPC caller's deadline past the router's maximum is cut to it (and the process is ended)",
  async () => {
    const r = await router({ requestTimeoutMs: 1_000 });
    const hourAway = Date.now() + 3_600_000;
    const refused = await within(
      20_000,
      'a call with a one-hour deadline outlived the 1 s maximum',
      channel(r)
        .run(
          { process: { command: { case: 'shell', value: 'sleep 30' } } },
          { metadata: sandboxMetadata(), deadline: hourAway },
        )
        .catch((e: unknown) => e),
    );
    expect(refused).toMatchObject({
      code: status.DEADLINE_EXCEEDED,
      details: expect.stringMatching(/^deadline_exceeded: /),
    });
    for (let i = 0; i < 300 && agent.deps.runner.size > 0; i++)
      await new Promise((res) => setTimeout(res, 20));
    expect(agent.deps.runner.size).toBe(0);
  },
  TIMEOUT_MS,
);

test(
  'a gRPC exec session is capped by the session lifetime, not the request timeout',
  async () => {
    const r = await router({ requestTimeoutMs: 500, wsMaxLifetimeMs: 2_000 });
    const started = performance.now();
    const exec = channel(r).exec({ metadata: sandboxMetadata(), deadline: Date.now() + 3_600_000 });
    exec.write({
      frame: { case: 'start', value: { process: { command: { case: 'shell', value: 'sleep 30' } } } },
    });
    const drained = (async () => {
      const events: (string | undefined)[] = [];
      for await (const response of exec) events.push(response.event.case);
      return events;
    })();
    const ended = await within(
      20_000,
      'an exec with a one-hour deadline outlived the 2 s lifetime',
      drained,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(ended).toMatchObject({
      code: status.DEADLINE_EXCEEDED,
      details: expect.stringMatching(/^deadline_exceeded: /),
    });
    // It ran past the 0.5 s request timeout: streams get the session's maximum.
    expect(performance.now() - started).toBeGreaterThan(1_500);
  },
  TIMEOUT_MS,
);
