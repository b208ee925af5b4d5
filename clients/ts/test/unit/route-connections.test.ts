/**
 * Handles on one router share its connections: a sandbox per handle must not pay a new connection
 * (over https, a TLS handshake) for its first call. Closing a handle still ends what it has under
 * way (a call, a WebSocket stream) and nothing of another handle's.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { z } from 'zod';
import { callJson } from '../../src/http/request.js';
import { prepareRoute, type Route, type RouteContext } from '../../src/route/index.js';

const direct: RouteContext = { kube: undefined, claimNamespace: 'team', env: {} };
let server: Server;
let wss: WebSocketServer;
let routerUrl: string;
let connections = 0;
/** Requests to `/hold` the router has not answered yet, and a signal when one arrives. */
const held: ServerResponse[] = [];
let holding: () => void = () => undefined;
const opened: Route[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    if (req.url === '/hold') {
      held.push(res);
      holding();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  wss = new WebSocketServer({ server });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  routerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const client of wss.clients) client.terminate();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(async () => {
  for (const route of opened.splice(0)) await route.close();
  for (const res of held.splice(0)) res.destroy();
});

const openRoute = async (): Promise<Route> => {
  const route = await (await prepareRoute({ routerUrl, token: 't' }, direct))();
  opened.push(route);
  return route;
};

const call = (route: Route, path: string): Promise<unknown> =>
  callJson(route, { method: 'GET', path, idempotent: false }, z.unknown(), 'calling');

const nextHeld = (): Promise<void> => new Promise((resolve) => (holding = resolve));

test('one handle after another reuses the first one’s connection to the router', async () => {
  const before = connections;
  for (let i = 0; i < 3; i++) {
    const route = await openRoute();
    expect(await call(route, '/x')).toEqual({ ok: true });
    await route.close();
  }
  expect(connections - before).toBe(1);
});

test("closing a handle ends its own call under way and leaves another handle's to finish", async () => {
  const mine = await openRoute();
  const other = await openRoute();
  let arrived = nextHeld();
  const myCall = call(mine, '/hold');
  await arrived;
  arrived = nextHeld();
  const otherCall = call(other, '/hold');
  await arrived;
  await mine.close();
  await expect(myCall).rejects.toThrow();
  const [, otherRes] = held;
  otherRes?.writeHead(200, { 'content-type': 'application/json' }).end('{"other":true}');
  expect(await otherCall).toEqual({ other: true });
});

test("closing a handle ends its WebSocket stream, not another handle's", async () => {
  const mine = await openRoute();
  const other = await openRoute();
  const dial = async (route: Route): Promise<WebSocket> => {
    const ws = new WebSocket(`${routerUrl.replace('http', 'ws')}/stream`, { agent: route.agent });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return ws;
  };
  const myStream = await dial(mine);
  const otherStream = await dial(other);
  const myStreamClosed = new Promise((resolve) => myStream.once('close', resolve));
  await mine.close();
  await myStreamClosed;
  expect(otherStream.readyState).toBe(WebSocket.OPEN);
  otherStream.terminate();
});
