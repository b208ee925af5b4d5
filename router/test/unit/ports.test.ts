/**
 * Any sandbox port through the router (`/v1/namespaces/{ns}/sandboxclaims/{name}/ports/{port}/…`)
 * and signed preview links (`/v1/previews/{token}/…`), over real loopback sockets: an HTTP server
 * and a WebSocket echo server stand in for the pod's ports, a scripted raw TCP server for a
 * hostile one. Authentication, port policy (declared ports, the agent's ports), header filtering
 * both ways, timeouts, and the link's scope (expiry, port, claim, claim UID).
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import WebSocket, { WebSocketServer } from 'ws';
import { namespaceScope, tokenAuthenticator } from '../../src/index.js';
import { signPreview } from '../../src/ports/preview-token.js';
import type { PreviewKeys } from '../../src/ports/preview-token.js';
import { startHostileUpstream } from '../helpers/hostile-upstream.js';
import type { HostileUpstream } from '../helpers/hostile-upstream.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';
import type { StaticSandbox } from '../helpers/static-lookup.js';

jest.setTimeout(120_000);

const TOKEN = 'port-route-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const POD_IP = '127.0.0.61';
const ANY_IP = '127.0.0.62';
const HOSTILE_IP = '127.0.0.63';
const AGENT_GRPC = 8889;
const AGENT_REST = 8888;
const KEYS: PreviewKeys = {
  signingKeyId: 'k2',
  keys: new Map([
    ['k1', Buffer.alloc(32, 1)],
    ['k2', Buffer.alloc(32, 2)],
  ]),
};

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly bodyBytes: number;
}

let web: Server;
let webPort: number;
let undeclared: Server;
let undeclaredPort: number;
let echo: WebSocketServer;
let echoPort: number;
let wsHeaders: IncomingHttpHeaders | undefined;
let hostile: HostileUpstream;
let router: TestRouter;
/**
 * A second router whose port idle timeout is 1 s, for the tests of that timeout only: on a busy
 * machine a healthy 4 MiB stream can pause that long, so every other test runs on `router` (60 s).
 */
let idleRouter: TestRouter;
let clock = Date.now();
const seen: Seen[] = [];
const sandboxes: StaticSandbox[] = [];

/** An HTTP server that answers with what it saw, and tries to speak for the router's origin. */
function startWeb(ip: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let bodyBytes = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      bodyBytes += c.length;
      if (req.url?.startsWith('/echo')) chunks.push(c);
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes });
      res.setHeader('set-cookie', ['session=stolen; Path=/', 'other=1']);
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('access-control-allow-origin', 'https://evil.example');
      res.setHeader('x-sandbank-error-code', 'forged');
      res.setHeader('service-worker-allowed', '/');
      res.setHeader('referrer-policy', 'unsafe-url');
      if (req.url === '/redirect-self' || req.url === '/redirect-away') {
        const to =
          req.url === '/redirect-self'
            ? `http://${ip}:${String(req.socket.localPort)}/login?next=1`
            : '/login';
        res.writeHead(302, { location: req.headers['x-away'] === '1' ? 'https://example.com/x' : to });
        res.end();
        return;
      }
      if (req.url?.startsWith('/echo')) {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(Buffer.concat(chunks));
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url, method: req.method }));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, ip, () => resolve({ server, port: (server.address() as AddressInfo).port })),
  );
}

beforeAll(async () => {
  ({ server: web, port: webPort } = await startWeb(POD_IP));
  ({ server: undeclared, port: undeclaredPort } = await startWeb(ANY_IP));
  echo = new WebSocketServer({ host: POD_IP, port: 0 });
  echo.on('connection', (ws, req) => {
    wsHeaders = req.headers;
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => echo.once('listening', () => resolve()));
  echoPort = (echo.address() as AddressInfo).port;
  hostile = await startHostileUpstream(HOSTILE_IP);
  sandboxes.push(
    { namespace: 'default', name: 'web', ip: POD_IP, ports: [webPort, echoPort, AGENT_REST, AGENT_GRPC] },
    { namespace: 'default', name: 'any', ip: ANY_IP, anyPort: true },
    { namespace: 'default', name: 'hostile', ip: HOSTILE_IP, ports: [hostile.port] },
    { namespace: 'other', name: 'web', ip: POD_IP, ports: [webPort] },
  );
  const routerOptions = (portIdleTimeoutMs: number) => ({
    lookup: staticLookup(sandboxes),
    auth: tokenAuthenticator({ alice: { token: TOKEN, namespaces: namespaceScope(['default']) } }),
    agentPorts: { grpcPort: AGENT_GRPC, legacyPort: AGENT_REST },
    limits: { portIdleTimeoutMs, portMaxResponseHeaderBytes: 16 * 1024 },
    previews: { keys: KEYS, now: () => clock },
  });
  router = await startRouter(routerOptions(60_000));
  idleRouter = await startRouter(routerOptions(1_000));
});

afterAll(async () => {
  await router?.close();
  await idleRouter?.close();
  await new Promise((resolve) => web?.close(resolve));
  await new Promise((resolve) => undeclared?.close(resolve));
  await new Promise((resolve) => echo?.close(resolve));
  await hostile?.close();
});

const portUrl = (name: string, port: number, rest = '/', ns = 'default', via = router): string =>
  `${via.url}/v1/namespaces/${ns}/sandboxclaims/${name}/ports/${port}${rest}`;

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

/** What the upstream saw for the request whose url is `url`. */
function seenAt(url: string): Seen {
  const hit = seen.find((s) => s.url === url);
  if (hit === undefined) throw new Error(`upstream never saw ${url}`);
  return hit;
}

describe('the port route: authentication and port policy', () => {
  test('no token: 401, nothing reaches the sandbox', async () => {
    const res = await fetch(portUrl('web', webPort, '/noauth'));
    expect(res.status).toBe(401);
    expect(seen.some((s) => s.url === '/noauth')).toBe(false);
  });

  test('a token for another namespace: 403', async () => {
    const res = await fetch(portUrl('web', webPort, '/other-ns', 'other'), { headers: AUTH });
    expect(res.status).toBe(403);
  });

  test('a declared port answers; the upstream sees the path after the port and the query', async () => {
    const res = await fetch(portUrl('web', webPort, '/hello/world?x=1&y=%2F'), { headers: AUTH });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ url: '/hello/world?x=1&y=%2F', method: 'GET' });
    const bare = await fetch(portUrl('web', webPort, ''), { headers: AUTH });
    expect(await bare.json()).toEqual({ url: '/', method: 'GET' });
  });

  test.each([AGENT_REST, AGENT_GRPC])(
    "the agent's port %i is refused even when declared: 403 naming the exec route",
    async (port) => {
      const res = await fetch(portUrl('web', port, '/'), { headers: AUTH });
      expect(res.status).toBe(403);
      expect((await errorOf(res)).message).toMatch(/agent/);
    },
  );

  test('an undeclared port is refused; a sandbox whose template allows any port reaches it', async () => {
    const refused = await fetch(portUrl('web', undeclaredPort, '/'), { headers: AUTH });
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).message).toMatch(/not declared/);
    const any = await fetch(portUrl('any', undeclaredPort, '/any'), { headers: AUTH });
    expect(any.status).toBe(200);
    expect(await any.json()).toEqual({ url: '/any', method: 'GET' });
    const agent = await fetch(portUrl('any', AGENT_GRPC, '/'), { headers: AUTH });
    expect(agent.status).toBe(403);
  });

  test.each(['0', '65536', 'abc', '08080x'])('port %s: 400', async (port) => {
    const res = await fetch(`${router.url}/v1/namespaces/default/sandboxclaims/web/ports/${port}/`, {
      headers: AUTH,
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/port/);
  });
});

describe('the port route: headers both ways, streaming', () => {
  test("the caller's credentials and cookies never reach the sandbox; X-Forwarded-* are set", async () => {
    const res = await fetch(portUrl('web', webPort, '/headers'), {
      headers: {
        ...AUTH,
        cookie: 'router-session=1',
        'x-sandbank-anything': 'x',
        'x-sandbox-id': 'web',
        'proxy-authorization': 'Basic eA==',
        'x-app': 'kept',
      },
    });
    expect(res.status).toBe(200);
    const h = seenAt('/headers').headers;
    expect(h['authorization']).toBeUndefined();
    expect(h['cookie']).toBeUndefined();
    expect(h['proxy-authorization']).toBeUndefined();
    expect(h['x-sandbank-anything']).toBeUndefined();
    expect(h['x-sandbox-id']).toBeUndefined();
    expect(h['x-app']).toBe('kept');
    expect(h['x-forwarded-for']).toMatch(/127\.0\.0\.1/);
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-prefix']).toBe(`/v1/namespaces/default/sandboxclaims/web/ports/${webPort}`);
  });

  test('the sandbox cannot set cookies, allow credentialed CORS or forge router headers', async () => {
    const res = await fetch(portUrl('web', webPort, '/cookie'), { headers: AUTH });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('x-sandbank-error-code')).toBeNull();
    expect(res.headers.get('service-worker-allowed')).toBeNull();
    expect(res.headers.get('referrer-policy')).toBeNull();
    expect(res.headers.get('content-security-policy')).toMatch(/^sandbox/);
  });

  test("the sandbox's redirects to its own paths stay under the port route (or the link)", async () => {
    const prefix = `/v1/namespaces/default/sandboxclaims/web/ports/${webPort}`;
    const self = await fetch(portUrl('web', webPort, '/redirect-self'), {
      headers: AUTH,
      redirect: 'manual',
    });
    expect([self.status, self.headers.get('location')]).toEqual([302, `${prefix}/login?next=1`]);
    const path = await fetch(portUrl('web', webPort, '/redirect-away'), {
      headers: AUTH,
      redirect: 'manual',
    });
    expect(path.headers.get('location')).toBe(`${prefix}/login`);
    const away = await fetch(portUrl('web', webPort, '/redirect-away'), {
      headers: { ...AUTH, 'x-away': '1' },
      redirect: 'manual',
    });
    expect(away.headers.get('location')).toBe('https://example.com/x');
  });

  test('a body streams both ways unchanged (4 MiB)', async () => {
    const body = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const res = await fetch(portUrl('web', webPort, '/echo'), { method: 'PUT', headers: AUTH, body });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(body)).toBe(true);
  });

  test('huge response headers from the sandbox: 502 with the router error', async () => {
    const id = hostile.register([
      { write: `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(64 * 1024)}\r\ncontent-length: 0\r\n\r\n` },
    ]);
    const res = await fetch(portUrl('hostile', hostile.port, `/script/${id}`), { headers: AUTH });
    expect(res.status).toBe(502);
    expect(res.headers.get('x-sandbank-error-code')).toBe('upstream_failed');
  });

  test('a sandbox that answers nothing (slowloris) is cut after the idle timeout: 504', async () => {
    const id = hostile.register([{ write: 'HTTP/1.1 200' }, { hang: true }]);
    const res = await fetch(portUrl('hostile', hostile.port, `/script/${id}`, 'default', idleRouter), {
      headers: AUTH,
    });
    expect(res.status).toBe(504);
    expect((await errorOf(res)).message).toMatch(/idle/);
  });

  test('a body that stalls mid-way is cut after the idle timeout', async () => {
    const id = hostile.register([
      { write: 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nab' },
      { hang: true },
    ]);
    const res = await fetch(portUrl('hostile', hostile.port, `/script/${id}`, 'default', idleRouter), {
      headers: AUTH,
    });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  test('a client that stalls mid-body (slowloris) gets 504 after the idle timeout', async () => {
    const socket = connect((idleRouter.app.server.address() as AddressInfo).port, '127.0.0.1');
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    socket.write(
      `PUT /v1/namespaces/default/sandboxclaims/web/ports/${webPort}/echo HTTP/1.1\r\n` +
        `host: router\r\nauthorization: Bearer ${TOKEN}\r\ncontent-length: 1000\r\n\r\nab`,
    );
    const text = await answer;
    // The sandbox answers only once the body ends: nothing was forwarded, so the router's own 504.
    expect(text).toMatch(/^HTTP\/1\.1 504 /);
    expect(text).toMatch(/idle/);
    socket.destroy();
  });

  test('metrics count port requests by status class and bytes by direction', async () => {
    const text = await router.app.metrics.registry.metrics();
    expect(text).toMatch(/sandbank_router_port_requests_total\{kind="http",status="2xx"\} [1-9]/);
    expect(text).toMatch(/sandbank_router_port_requests_total\{kind="http",status="4xx"\} [1-9]/);
    expect(text).toMatch(/sandbank_router_port_bytes_total\{direction="to_sandbox"\} [1-9]/);
    expect(text).toMatch(/sandbank_router_port_bytes_total\{direction="from_sandbox"\} [1-9]/);
  });
});

/** A WebSocket to `url`; resolves once open, or rejects with the refused status. */
function openWs(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error(`refused ${String(res.statusCode)}`), { statusCode: res.statusCode })),
    );
    ws.once('error', reject);
  });
}

async function echoOnce(ws: WebSocket, text: string): Promise<string> {
  const reply = new Promise<string>((resolve) =>
    ws.once('message', (data: Buffer) => resolve(data.toString('utf8'))),
  );
  ws.send(text);
  return reply;
}

describe('the port route: WebSocket', () => {
  const wsUrl = (name: string, port: number, rest = '/', via = router): string =>
    `${via.wsUrl}/v1/namespaces/default/sandboxclaims/${name}/ports/${port}${rest}`;

  test('an upgrade reaches the echo server and relays both ways; no router credential upstream', async () => {
    const ws = await openWs(wsUrl('web', echoPort, '/socket'), { ...AUTH, cookie: 'router=1' });
    expect(await echoOnce(ws, 'hello')).toBe('hello');
    const big = 'x'.repeat(1024 * 1024);
    expect(await echoOnce(ws, big)).toBe(big);
    expect(wsHeaders?.['authorization']).toBeUndefined();
    expect(wsHeaders?.['cookie']).toBeUndefined();
    ws.close();
  });

  test('without a token the upgrade is refused with 401', async () => {
    await expect(openWs(wsUrl('web', echoPort))).rejects.toMatchObject({ statusCode: 401 });
  });

  test('a tunnel with no byte either way for the idle timeout is closed', async () => {
    const ws = await openWs(wsUrl('web', echoPort, '/quiet', idleRouter), AUTH);
    const started = Date.now();
    await new Promise((resolve) => ws.once('close', resolve));
    // Closed by the router's idle timeout (1 s here), not by the lifetime (a day).
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  test("the agent's port is refused for upgrades too", async () => {
    await expect(openWs(wsUrl('web', AGENT_GRPC), AUTH)).rejects.toMatchObject({ statusCode: 403 });
  });
});

interface Minted {
  readonly url: string;
  readonly token: string;
  readonly expiresAt: string;
}

async function mint(name: string, body: unknown, headers: Record<string, string> = AUTH): Promise<Response> {
  return fetch(`${router.url}/v1/namespaces/default/sandboxclaims/${name}/previews`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('signed preview links', () => {
  test('a link opens that one port without the API token until it expires, then 401', async () => {
    clock = Date.now();
    const res = await mint('web', { port: webPort, ttlSeconds: 60 });
    expect(res.status).toBe(201);
    const link = (await res.json()) as Minted;
    expect(Date.parse(link.expiresAt)).toBe(Math.floor(clock / 1000) * 1000 + 60_000);
    expect(link.url).toBe(`/v1/previews/${link.token}/`);
    // A browser sends the page's own URL (the token in it) as Referer.
    const open = await fetch(`${router.url}${link.url}page?q=1`, {
      headers: { referer: `${router.url}${link.url}` },
    });
    expect(open.status).toBe(200);
    expect(await open.json()).toEqual({ url: '/page?q=1', method: 'GET' });
    expect(open.headers.get('set-cookie')).toBeNull();
    expect(open.headers.get('referrer-policy')).toBe('no-referrer');
    expect(open.headers.get('content-security-policy')).toMatch(/^sandbox allow-scripts/);
    expect(open.headers.get('content-security-policy')).not.toMatch(/allow-same-origin/);
    // The link's token is not forwarded, in any form.
    const sent = seenAt('/page?q=1');
    expect(JSON.stringify(sent)).not.toContain(link.token.slice(0, 40));
    const moved = await fetch(`${router.url}${link.url}redirect-away`, { redirect: 'manual' });
    expect(moved.headers.get('location')).toBe(`${link.url}login`);
    clock += 61_000;
    const expired = await fetch(`${router.url}${link.url}page`);
    expect(expired.status).toBe(401);
    expect((await errorOf(expired)).message).toMatch(/expired/);
    clock = Date.now();
  });

  test('the default lifetime is 15 minutes; over 24 h, an agent port or no token is refused', async () => {
    clock = Date.now();
    const link = (await (await mint('web', { port: webPort })).json()) as Minted;
    expect(Date.parse(link.expiresAt)).toBe(Math.floor(clock / 1000) * 1000 + 900_000);
    const long = await mint('web', { port: webPort, ttlSeconds: 86_401 });
    expect(long.status).toBe(400);
    expect((await errorOf(long)).message).toMatch(/ttlSeconds/);
    expect((await mint('web', { port: AGENT_GRPC })).status).toBe(403);
    expect((await mint('web', { port: undeclaredPort })).status).toBe(403);
    expect((await mint('web', { port: webPort }, {})).status).toBe(401);
  });

  test('a tampered link (another port in the payload), an unknown key id or a foreign key: 401', async () => {
    clock = Date.now();
    const link = (await (await mint('web', { port: webPort })).json()) as Minted;
    const [payload, mac] = link.token.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const retarget = Buffer.from(JSON.stringify({ ...claims, p: echoPort })).toString('base64url');
    expect((await fetch(`${router.url}/v1/previews/${retarget}.${mac}/`)).status).toBe(401);
    const unknownKid = signPreview(
      { signingKeyId: 'k9', keys: new Map([['k9', Buffer.alloc(32, 2)]]) },
      {
        namespace: 'default',
        claim: 'web',
        claimUid: 'claim-uid-web',
        port: webPort,
        expiresAt: clock + 60_000,
      },
    );
    expect((await fetch(`${router.url}/v1/previews/${unknownKid}/`)).status).toBe(401);
    const foreign = signPreview(
      { signingKeyId: 'k2', keys: new Map([['k2', Buffer.alloc(32, 7)]]) },
      {
        namespace: 'default',
        claim: 'web',
        claimUid: 'claim-uid-web',
        port: webPort,
        expiresAt: clock + 60_000,
      },
    );
    expect((await fetch(`${router.url}/v1/previews/${foreign}/`)).status).toBe(401);
    expect((await fetch(`${router.url}/v1/previews/not-a-token/`)).status).toBe(401);
  });

  test('a link signed with a rotated-out (still listed) key keeps working', async () => {
    clock = Date.now();
    const old = signPreview(
      { signingKeyId: 'k1', keys: KEYS.keys },
      {
        namespace: 'default',
        claim: 'web',
        claimUid: 'claim-uid-web',
        port: webPort,
        expiresAt: clock + 60_000,
      },
    );
    expect((await fetch(`${router.url}/v1/previews/${old}/rotated`)).status).toBe(200);
  });

  test('a link for another claim UID (the claim deleted and made again under its name) is refused', async () => {
    clock = Date.now();
    const link = (await (await mint('web', { port: webPort })).json()) as Minted;
    const i = sandboxes.findIndex((s) => s.namespace === 'default' && s.name === 'web');
    const before = sandboxes[i] as StaticSandbox;
    sandboxes[i] = { ...before, claimUid: 'claim-uid-web-recreated' };
    try {
      const res = await fetch(`${router.url}${link.url}stale`);
      expect(res.status).toBe(404);
      expect(seen.some((s) => s.url === '/stale')).toBe(false);
    } finally {
      sandboxes[i] = before;
    }
  });

  test("a validly signed link for one claim does not open another claim's pod", async () => {
    clock = Date.now();
    // Claim `any`, but with web's UID: resolution of `any` finds another UID.
    const crossed = signPreview(KEYS, {
      namespace: 'default',
      claim: 'any',
      claimUid: 'claim-uid-web',
      port: webPort,
      expiresAt: clock + 60_000,
    });
    expect((await fetch(`${router.url}/v1/previews/${crossed}/crossed`)).status).toBe(404);
  });

  test('a link opens a WebSocket to its port, and only its port', async () => {
    clock = Date.now();
    const link = (await (await mint('web', { port: echoPort })).json()) as Minted;
    const ws = await openWs(`${router.wsUrl}${link.url}ws`, { referer: `${router.url}${link.url}` });
    expect(await echoOnce(ws, 'via preview')).toBe('via preview');
    expect(JSON.stringify(wsHeaders)).not.toContain(link.token.slice(0, 40));
    ws.close();
    const http = (await (await mint('web', { port: webPort })).json()) as Minted;
    // The HTTP port's link upgrades against the HTTP server, which refuses: never the echo port.
    await expect(openWs(`${router.wsUrl}${http.url}ws`)).rejects.toMatchObject({ statusCode: 502 });
  });
});

describe('a link verified once per request', () => {
  test('HTTP and WebSocket read the link clock once each: one verification, carried to the authorization', async () => {
    // Only a verification reads the preview clock (its expiry check), so its reads count them.
    let reads = 0;
    const counting = await startRouter({
      lookup: staticLookup(sandboxes),
      auth: tokenAuthenticator({ alice: { token: TOKEN, namespaces: namespaceScope(['default']) } }),
      agentPorts: { grpcPort: AGENT_GRPC, legacyPort: AGENT_REST },
      previews: {
        keys: KEYS,
        now: () => {
          reads++;
          return Date.now();
        },
      },
    });
    try {
      const grant = {
        namespace: 'default',
        claim: 'web',
        claimUid: 'claim-uid-web',
        expiresAt: Date.now() + 60_000,
      };
      const http = signPreview(KEYS, { ...grant, port: webPort });
      expect((await fetch(`${counting.url}/v1/previews/${http}/once`)).status).toBe(200);
      expect(reads).toBe(1);
      const ws = await openWs(
        `${counting.wsUrl}/v1/previews/${signPreview(KEYS, { ...grant, port: echoPort })}/`,
      );
      expect(reads).toBe(2);
      ws.close();
      await new Promise((resolve) => ws.once('close', resolve));
    } finally {
      await counting.close();
    }
  });
});

describe('bounds', () => {
  test("a caller's open tunnels count against its stream limit (a link's holders are one caller)", async () => {
    const small = await startRouter({
      lookup: staticLookup(sandboxes),
      auth: tokenAuthenticator({ alice: { token: TOKEN, namespaces: namespaceScope(['default']) } }),
      agentPorts: { grpcPort: AGENT_GRPC, legacyPort: AGENT_REST },
      limits: { maxStreamsPerCaller: 1 },
      previews: { keys: KEYS },
    });
    try {
      const url = `${small.wsUrl}/v1/namespaces/default/sandboxclaims/web/ports/${echoPort}/`;
      const first = await openWs(url, AUTH);
      await expect(openWs(url, AUTH)).rejects.toMatchObject({ statusCode: 429 });
      const res = await fetch(`${small.url}/v1/namespaces/default/sandboxclaims/web/previews`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/json' },
        body: JSON.stringify({ port: echoPort }),
      });
      expect(res.status).toBe(429);
      first.close();
      await new Promise((resolve) => first.once('close', resolve));
      const link = signPreview(KEYS, {
        namespace: 'default',
        claim: 'web',
        claimUid: 'claim-uid-web',
        port: echoPort,
        expiresAt: Date.now() + 60_000,
      });
      // The first tunnel's slot comes back once both its sockets closed on the router too.
      const viaLink = await eventually(() => openWs(`${small.wsUrl}/v1/previews/${link}/`));
      await expect(openWs(`${small.wsUrl}/v1/previews/${link}/`)).rejects.toMatchObject({ statusCode: 429 });
      // Another caller (the API token) is not held up by the link's holders.
      const other = await openWs(url, AUTH);
      other.close();
      viaLink.close();
    } finally {
      await small.close();
    }
  });
});

/** `attempt` until it resolves (the router releases a slot just after the client saw the close). */
async function eventually<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= 800) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
