/** Ports against a loopback router: the port route's URL, the sandbox's own answers, preview links. */
import { Ports } from '../../src/ports.js';
import { PermissionDenied, Unimplemented } from '../../src/generated/router-errors.js';
import { CLAIM_PREFIX, json, routerError, startFakeRouter, TARGET } from './hostile-router.js';
import type { FakeRouter } from './hostile-router.js';

let router: FakeRouter | undefined;
afterEach(async () => {
  await router?.close();
  router = undefined;
});

test('url names the claim and the port, with the path and query the sandbox gets', async () => {
  router = await startFakeRouter(() => undefined);
  const ports = new Ports(router.conn, TARGET);
  expect(ports.url(3000, '/api/x?y=1')).toBe(
    `${router.conn.origin.origin}${CLAIM_PREFIX}/ports/3000/api/x?y=1`,
  );
  expect(() => ports.url(0)).toThrow(/^port:/);
  expect(() => ports.url(80, 'no-slash')).toThrow(/^path:/);
});

test("the sandbox's answers come back whatever their status; the router's refusals are errors", async () => {
  router = await startFakeRouter((req, res, body) => {
    if (req.url?.includes('/ports/9999/')) return routerError(res, 403, 'permission_denied');
    res.writeHead(req.method === 'POST' ? 201 : 404, { 'content-type': 'text/plain', 'x-app': 'yes' });
    res.end(req.method === 'POST' ? `got ${body.toString()}` : 'sandbox says no');
  });
  const ports = new Ports(router.conn, TARGET);
  const missing = await ports.request(8080, { path: '/nothing' });
  expect([missing.status, missing.headers.get('x-app'), await missing.text()]).toEqual([
    404,
    'yes',
    'sandbox says no',
  ]);
  const posted = await ports.request(8080, {
    method: 'post',
    path: '/echo',
    body: 'data',
    headers: { 'x-in': '1' },
  });
  expect([posted.status, await posted.text()]).toEqual([201, 'got data']);
  expect(router.requests[1]?.headers['x-in']).toBe('1');
  await expect(ports.request(9999)).rejects.toBeInstanceOf(PermissionDenied);
});

test('preview mints a signed link, absolute on the router origin', async () => {
  router = await startFakeRouter((_req, res) =>
    json(res, 201, {
      url: '/v1/previews/tok123/',
      token: 'tok123',
      port: 3000,
      expiresAt: '2026-01-02T03:14:05Z',
    }),
  );
  const link = await new Ports(router.conn, TARGET).preview(3000, { ttlSeconds: 600 });
  expect(link.url).toBe(`${router.conn.origin.origin}/v1/previews/tok123/`);
  expect(link.expiresAt.toISOString()).toBe('2026-01-02T03:14:05.000Z');
  expect(router.requests[0]?.url.pathname).toBe(`${CLAIM_PREFIX}/previews`);
  expect(JSON.parse(router.requests[0]?.body.toString() ?? '')).toEqual({ port: 3000, ttlSeconds: 600 });
});

test('a router without preview keys is Unimplemented; a link not under /v1/previews/ is refused', async () => {
  router = await startFakeRouter((_req, res, _body, index) =>
    index === 0
      ? routerError(res, 501, 'unimplemented')
      : json(res, 201, {
          url: 'https://evil.example/',
          token: 't',
          port: 3000,
          expiresAt: '2026-01-02T03:14:05Z',
        }),
  );
  const ports = new Ports(router.conn, TARGET);
  await expect(ports.preview(3000)).rejects.toBeInstanceOf(Unimplemented);
  await expect(ports.preview(3000)).rejects.toThrow(/^preview\.url:/);
});
