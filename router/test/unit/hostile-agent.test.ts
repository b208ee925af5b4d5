/**
 * A hostile agent behind the router, one scripted answer at a time (the generated run over many
 * such answers is hostile-upstream-fuzz in `make fuzz-open`): each answer here once made the
 * router misbehave, and each test fails without its fix.
 */
import { credentials, Metadata } from '@grpc/grpc-js';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import type { AgentPromiseClient } from '@sandbank/proto';
import { startHostileAgent } from '../helpers/hostile-agent.js';
import type { AgentScript, HostileAgent } from '../helpers/hostile-agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

let hostileGrpc: HostileAgent;
let router: TestRouter;
let passthrough: AgentPromiseClient;

beforeAll(async () => {
  hostileGrpc = await startHostileAgent('127.0.0.72', { defaultDelayMs: 5 });
  router = await startRouter({
    lookup: staticLookup([
      { namespace: 'default', name: 'hostile-grpc', ip: hostileGrpc.ip, protocol: 'grpc' },
    ]),
    agentPorts: { grpcPort: hostileGrpc.port },
  });
  passthrough = createAgentPromiseClient(createAgentClient(router.grpcAddress, credentials.createInsecure()));
});

afterAll(async () => {
  await router?.close();
  await hostileGrpc?.close();
});

/** A ReadFile answer: well-formed messages of these sizes (each declares its size as the file's). */
const readFileAnswer = (...sizes: number[]): AgentScript => ({
  status: 200,
  contentType: 'application/grpc',
  trailersOnly: false,
  frames: sizes.map((size) => ({ kind: 'reply' as const, size })),
  grpcStatus: '0',
  grpcMessage: undefined,
  ending: 'trailers',
});

const download = (): Promise<Response> =>
  fetch(`${router.url}/download/x`, { headers: { 'x-sandbox-id': 'hostile-grpc' } });

/** The router is still there for the next download. */
async function expectNextDownloadWorks(): Promise<void> {
  hostileGrpc.push(readFileAnswer(10));
  const next = await download();
  expect([next.status, (await next.arrayBuffer()).byteLength]).toEqual([200, 10]);
}

// A file's size as the agent declares it becomes the Content-Length: what the agent then sends
// must not break that promise into a hang or into more bytes than promised.
test('a legacy download whose agent sends more bytes than it declared gets the declared bytes only', async () => {
  hostileGrpc.reset();
  hostileGrpc.push(readFileAnswer(1_000, 500));
  const res = await download();
  expect([res.status, (await res.arrayBuffer()).byteLength]).toEqual([200, 1_000]);
  await expectNextDownloadWorks();
});

// Before the fix the router ended the short response as if complete and the client waited for
// the promised bytes until its timeout.
test('a legacy download whose agent sends fewer bytes than it declared gets its status, then a cut body', async () => {
  hostileGrpc.reset();
  hostileGrpc.push(readFileAnswer(2 * 1024 * 1024));
  const res = await download();
  expect(res.status).toBe(200);
  await expect(res.arrayBuffer()).rejects.toThrow();
  await expectNextDownloadWorks();
});

test('a legacy /list of 1,000 symlinks keeps at most 16 Stat calls in flight', async () => {
  hostileGrpc.reset();
  hostileGrpc.push({
    status: 200,
    contentType: 'application/grpc',
    trailersOnly: false,
    frames: [{ kind: 'reply', size: 1_000 }],
    grpcStatus: '0',
    grpcMessage: undefined,
    ending: 'trailers',
  });
  const res = await fetch(`${router.url}/list/d`, { headers: { 'x-sandbox-id': 'hostile-grpc' } });
  const text = await res.text();
  expect([res.status, text.slice(0, 200)]).toEqual([200, expect.any(String)]);
  expect((JSON.parse(text) as unknown[]).length).toBe(1_000);
  expect(hostileGrpc.maxStatsInFlight).toBeGreaterThan(0);
  expect(hostileGrpc.maxStatsInFlight).toBeLessThanOrEqual(16);
});

test("a reply grpc-js fails without a status code (a compressed frame, no grpc-encoding) is the agent's failure, not the router's", async () => {
  const compressed: AgentScript = {
    status: 200,
    contentType: 'application/grpc',
    trailersOnly: false,
    frames: [{ kind: 'compressed', size: 8 }],
    grpcStatus: '0',
    grpcMessage: undefined,
    ending: 'trailers',
  };
  hostileGrpc.reset();
  hostileGrpc.push(compressed);
  const v1 = await fetch(`${router.url}/v1/namespaces/default/sandboxes/hostile-grpc/stat?path=x`);
  expect([v1.status, v1.headers.get('x-sandbank-error-code')]).toEqual([502, 'upstream_failed']);
  expect(((await v1.json()) as { error: { message: string } }).error.message).toMatch(/malformed reply/);

  hostileGrpc.push(compressed);
  const legacy = await fetch(`${router.url}/exists/x`, { headers: { 'x-sandbox-id': 'hostile-grpc' } });
  expect(legacy.headers.get('x-sandbank-error-code')).not.toBe('internal');
  expect(legacy.status).toBeLessThan(500);

  hostileGrpc.push(compressed);
  const md = new Metadata();
  md.set('x-sandbox-id', 'hostile-grpc');
  const failure = (await passthrough.stat({ path: 'x' }, { metadata: md }).then(
    () => undefined,
    (e: unknown) => e,
  )) as { code?: number; details?: string; metadata?: Metadata } | undefined;
  expect(failure?.code).toBe(2); // UNKNOWN: relayed as the agent's, with a code a server can send
  expect(failure?.details).toMatch(/malformed reply/);
  expect(failure?.metadata?.get('sandbank-error-code')).toEqual([]);
});
