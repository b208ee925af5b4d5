/**
 * Token-less tunnel mode (upstream's SDK default: `kubectl port-forward svc/sandbox-router-svc`,
 * no credential), with real sockets. kubectl's port-forward reaches the router pod's own loopback
 * on the Service's target port, after the API server allowed `create pods/portforward` on the
 * router pod; so the router serves plain HTTP on 127.0.0.1 and ::1 on its HTTP port, and a request
 * that arrives on that listener without a token is the `port-forward` caller, allowed only in
 * ROUTER_PORTFORWARD_NAMESPACES. The network listener is bound to the pod's own address (here
 * 127.0.0.90) on the same port, with TLS and the usual auth. Trust follows the listening socket: every
 * client below connects from 127.0.0.1, and the network listener still wants a token.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import WebSocket from 'ws';
import { buildRouterApp, createLogger, namespaceScope, tokenAuthenticator } from '../../src/index.js';
import type { RouterApp } from '../../src/index.js';
import { listenRouter } from '../../src/listen.js';
import type { RouterListeners } from '../../src/listen.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { staticLookup } from '../helpers/static-lookup.js';
import { routerTls } from '../helpers/tls.js';
import type { RouterTls } from '../helpers/tls.js';

jest.setTimeout(120_000);

const TOKEN = 'port-forward-test-token-0123';
const POD_IP = '127.0.0.90';
const A_IP = '127.0.0.91';
const B_IP = '127.0.0.92';
let dir: string;
let tls: RouterTls;
let a: TestAgent;
let b: TestAgent;
let app: RouterApp;
let listeners: RouterListeners;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sandbank-router-pf-'));
  tls = await routerTls(join(dir, 'tls'), [POD_IP]);
  a = await startAgent({ ip: A_IP, grpcPort: 0, credential: { namespace: 'team-a' } });
  b = await startAgent({ ip: B_IP, grpcPort: a.grpcPort, credential: { namespace: 'team-b' } });
  await writeFile(join(a.dir, 'marker'), 'pod A');
  await writeFile(join(b.dir, 'marker'), 'pod B');
  const log = createLogger('silent');
  const material = { cert: tls.cert(), key: tls.key() };
  app = buildRouterApp({
    auth: tokenAuthenticator({ ops: { token: TOKEN, namespaces: namespaceScope(['team-a', 'team-b']) } }),
    lookup: staticLookup([
      { namespace: 'team-a', name: 'sandbox-a', ip: A_IP, annotation: a.annotation },
      { namespace: 'team-b', name: 'sandbox-b', ip: B_IP, annotation: b.annotation },
    ]),
    log,
    agentKey: (await import('../helpers/agent-key.js')).TEST_AGENT_KEY,
    agentPorts: { grpcPort: a.grpcPort, legacyPort: 8888 },
    connect: { timeoutMs: 1_000, retryDelaysMs: [50] },
    tls: material,
    portForward: { namespaces: ['team-a'] },
  });
  listeners = await listenRouter(app, {
    host: '127.0.0.1',
    networkHosts: [POD_IP],
    port: 0,
    grpcPort: 0,
    metricsPort: 0,
    portForward: true,
    transport: {
      kind: 'tls',
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      reloadMs: 3_600_000,
      material,
    },
    log,
  });
  port = listeners.httpPort;
});

afterAll(async () => {
  await app?.close();
  await listeners?.close();
  await a?.close();
  await b?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** POST /execute `cat marker` to `sandbox` through `host`, over TLS for the network listener. */
function execute(
  host: string,
  opts: { tls: boolean; headers?: Record<string, string>; namespace?: string; sandbox?: string },
): Promise<Answer> {
  const body = JSON.stringify({ command: 'cat marker' });
  const headers = {
    'content-type': 'application/json',
    'x-sandbox-id': opts.sandbox ?? 'sandbox-a',
    'x-sandbox-namespace': opts.namespace ?? 'team-a',
    'x-sandbox-port': '8888',
    ...opts.headers,
  };
  return new Promise((resolve, reject) => {
    const send = opts.tls ? httpsRequest : httpRequest;
    const req = send(
      {
        host,
        port,
        method: 'POST',
        path: '/execute',
        headers,
        ...(opts.tls ? { ca: tls.ca() } : {}),
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

const podA = { status: 200, body: '{"stdout":"pod A","stderr":"","exit_code":0}' };

async function portForwardDecisions(): Promise<number> {
  const metric = await app.metrics.registry.getSingleMetric('sandbank_router_auth_decisions_total')?.get();
  return (metric?.values ?? [])
    .filter((v) => v.labels['mode'] === 'port-forward')
    .reduce((n, v) => n + v.value, 0);
}

describe('the loopback listener (what kubectl port-forward reaches)', () => {
  test('is bound on 127.0.0.1 (and ::1 where the pod has it) on the HTTP port, beside the pod address', () => {
    expect(listeners.portForwardAddresses).toContain('127.0.0.1');
  });

  test('takes a request without a token for a listed namespace', async () => {
    expect(await execute('127.0.0.1', { tls: false })).toEqual(podA);
    if (listeners.portForwardAddresses.includes('::1')) {
      expect(await execute('::1', { tls: false })).toEqual(podA);
    }
  });

  test('refuses a namespace that is not listed, with 403', async () => {
    const res = await execute('127.0.0.1', { tls: false, namespace: 'team-b', sandbox: 'sandbox-b' });
    expect(res.status).toBe(403);
    expect(res.body).toMatch(/port-forward may not use sandboxes in namespace team-b/);
  });

  test("a token sent on it is checked as the token, with the token's own namespaces", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const res = await execute('127.0.0.1', {
      tls: false,
      headers: auth,
      namespace: 'team-b',
      sandbox: 'sandbox-b',
    });
    expect(res).toEqual({ status: 200, body: '{"stdout":"pod B","stderr":"","exit_code":0}' });
    const bad = await execute('127.0.0.1', {
      tls: false,
      headers: { authorization: 'Bearer not-a-token-at-all' },
    });
    expect(bad.status).toBe(401);
  });
});

describe('TLS through the tunnel (a client that tunnels TLS with its token, as Sandbank dev mode does)', () => {
  test('the same port answers TLS on loopback: the token is checked; without one, the port-forward caller', async () => {
    const withToken = await execute('127.0.0.1', {
      tls: true,
      headers: { authorization: `Bearer ${TOKEN}` },
      namespace: 'team-b',
      sandbox: 'sandbox-b',
    });
    expect(withToken).toEqual({ status: 200, body: '{"stdout":"pod B","stderr":"","exit_code":0}' });
    expect(await execute('127.0.0.1', { tls: true })).toEqual(podA);
    const other = await execute('127.0.0.1', { tls: true, namespace: 'team-b', sandbox: 'sandbox-b' });
    expect(other.status).toBe(403);
  });
});

describe('the network listener on the pod address', () => {
  test('still wants a token, though the client connects from 127.0.0.1 and says it is localhost', async () => {
    const res = await execute(POD_IP, {
      tls: true,
      headers: { 'x-forwarded-for': '127.0.0.1', forwarded: 'for=127.0.0.1', host: `localhost:${port}` },
    });
    expect(res.status).toBe(401);
    expect(await execute(POD_IP, { tls: true, headers: { authorization: `Bearer ${TOKEN}` } })).toEqual(podA);
  });

  test('speaks only TLS', async () => {
    await expect(execute(POD_IP, { tls: false })).rejects.toThrow();
  });

  test("a Pod-IP hint of 127.0.0.1 and the router's own port does not reach the loopback listener", async () => {
    const before = await portForwardDecisions();
    const res = await execute(POD_IP, {
      tls: true,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'x-sandbox-pod-ip': '127.0.0.1',
        // Another port than the agent's is proxied as plain HTTP: to the resolved pod's address.
        'x-sandbox-port': String(port),
      },
    });
    // Nothing listens on the pod's address at that port: the dial fails, and nothing reached
    // the router's own loopback listener.
    expect(res.status).toBe(502);
    expect(await portForwardDecisions()).toBe(before);
  });
});

/** A WebSocket exec upgrade on the loopback listener: the status it got (101: a session opened). */
function execUpgrade(headers: Record<string, string>): Promise<number> {
  const ws = new WebSocket(
    `ws://127.0.0.1:${port}/v1/namespaces/team-a/sandboxes/sandbox-a/exec`,
    'sandbank.exec.v1',
    {
      headers,
    },
  );
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', reject);
  });
}

describe("a browser on the loopback listener (a web page, or a sandbox's own page served on this origin)", () => {
  // A page cannot set Authorization on a no-cors POST or a WebSocket, but its browser adds Origin
  // (and Sec-Fetch-Site): without this, any page the developer opens, and any preview page, would
  // be the port-forward caller and run commands in every sandbox the tunnel reaches.
  test.each([
    ['a cross-site page', { origin: 'https://evil.example' }],
    ['an opaque-origin (sandboxed) page', { origin: 'null' }],
    ['a same-origin fetch', { 'sec-fetch-site': 'same-origin' }],
  ])('%s is not the port-forward caller: 401, nothing runs', async (_what, headers) => {
    const res = await execute('127.0.0.1', {
      tls: false,
      headers: { 'content-type': 'text/plain', ...headers },
    });
    expect(res.status).toBe(401);
    expect(await execUpgrade(headers)).toBe(401);
  });

  test('the developer typing a URL (Sec-Fetch-Site: none), or a client without Origin, still is', async () => {
    expect(await execute('127.0.0.1', { tls: false, headers: { 'sec-fetch-site': 'none' } })).toEqual(podA);
    expect(await execUpgrade({})).toBe(101);
  });

  test('a browser request with a token is checked as the token', async () => {
    const res = await execute('127.0.0.1', {
      tls: false,
      headers: { origin: 'null', authorization: `Bearer ${TOKEN}` },
    });
    expect(res).toEqual(podA);
  });
});
