/**
 * A router-wide cap on open connections, HTTP (WebSocket included) and gRPC counted together:
 * past it, a new connection is closed as it is accepted, before any byte of it is read, and the
 * refusal is counted; a connection that closes frees its place.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { credentials, status } from '@grpc/grpc-js';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import type { AgentClient } from '@sandbank/proto';
import { loadConfig } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { sandboxMetadata } from '../helpers/routed-agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

const TIMEOUT_MS = 60_000;
const IP = '127.0.0.64';

let agent: TestAgent;
let r: TestRouter;
const sockets: Socket[] = [];

beforeAll(async () => {
  agent = await startAgent({ ip: IP, grpcPort: 0 });
  r = await startRouter({
    lookup: staticLookup([{ namespace: 'default', name: 'sb', ip: IP }]),
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
    limits: { maxConnections: 3 },
  });
}, TIMEOUT_MS);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await r?.close();
  await agent?.close();
}, TIMEOUT_MS);

const port = (url: string): number => Number(new URL(url).port);

/** A TCP connection to the router's HTTP port that sends nothing. */
function idle(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port(r.url), '127.0.0.1', () => resolve(s));
    s.on('error', reject);
    sockets.push(s);
  });
}

/** A metric's value (0 when it has no sample yet). */
async function metric(name: string): Promise<number> {
  const text = await r.app.metrics.registry.metrics();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`never: ${what}`);
}

/** One raw HTTP request on a new connection: the bytes the router answered before it closed. */
function rawGet(): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = connect(port(r.url), '127.0.0.1', () =>
      s.write('GET /healthz HTTP/1.1\r\nhost: router\r\nconnection: close\r\n\r\n'),
    );
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

test('the default cap is finite', () => {
  expect(loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_HOST: '127.0.0.1' }).limits.maxConnections).toBe(4096);
  expect(
    loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_HOST: '127.0.0.1', ROUTER_MAX_CONNECTIONS: '10' }).limits
      .maxConnections,
  ).toBe(10);
  expect(() =>
    loadConfig({ ROUTER_AUTH_MODE: 'none', ROUTER_HOST: '127.0.0.1', ROUTER_MAX_CONNECTIONS: '0' }),
  ).toThrow(/ROUTER_MAX_CONNECTIONS: /);
});

test(
  'past the cap HTTP and gRPC connections are refused; a closed one frees its place',
  async () => {
    expect(await rawGet()).toMatch(/^HTTP\/1\.1 200 /);
    const freed = await idle();
    await idle();
    await idle();
    await eventually(
      '3 open connections',
      async () => (await metric('sandbank_router_open_connections')) === 3,
    );

    expect(await rawGet()).toBe('');
    // Each attempt on a channel of its own: a refused channel backs off before it reconnects.
    const channels: AgentClient[] = [];
    const stat = (): Promise<unknown> => {
      const channel = createAgentClient(r.grpcAddress, credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
      });
      channels.push(channel);
      return createAgentPromiseClient(channel)
        .stat({ path: '.' }, { metadata: sandboxMetadata(), deadline: Date.now() + 10_000 })
        .then(
          () => 'ok',
          (e: unknown) => e,
        );
    };
    try {
      expect(await stat()).toMatchObject({ code: status.UNAVAILABLE });
      expect(await metric('sandbank_router_refused_connections_total')).toBeGreaterThanOrEqual(2);

      freed.destroy();
      await eventually(
        '2 open connections',
        async () => (await metric('sandbank_router_open_connections')) === 2,
      );
      // The freed place goes to a gRPC channel: HTTP and gRPC share the cap.
      expect(await stat()).toBe('ok');
      expect(await rawGet()).toBe('');
    } finally {
      for (const c of channels) c.close();
    }
    await eventually(
      '2 open connections',
      async () => (await metric('sandbank_router_open_connections')) === 2,
    );
    expect(await rawGet()).toMatch(/^HTTP\/1\.1 200 /);
  },
  TIMEOUT_MS,
);
