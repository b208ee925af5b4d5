/**
 * Dev mode end to end against a fake API server: the router found in the claim's namespace or
 * Sandbank's, the rights asked before anything else, the token from the router's Secret, plain
 * HTTP only on the loopback tunnel, and a RouterConnection whose calls reach the router's Pod
 * through the port-forward. The kubeconfig's token never becomes a router header.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PortForwardError } from '../../src/client-errors.js';
import { Cluster } from '../../src/kube/cluster.js';
import { KubeApi, loadKubeConfig } from '../../src/kube/api.js';
import { prepareRoute, type Route } from '../../src/route/index.js';
import { KUBE_TOKEN, startFakeApiServer, type FakeApiServer, type Handler } from './route-fake-apiserver.js';

const SYS = 'sandbank-system';
let router: Server;
let routerPort: number;
const routerSaw: (string | undefined)[] = [];
const open: { fake?: FakeApiServer; api?: KubeApi; route?: Route } = {};

beforeAll(async () => {
  router = createServer((req, res) => {
    routerSaw.push(req.headers.authorization);
    res.end(`router says hi to ${req.url ?? ''}`);
  });
  await new Promise<void>((resolve) => router.listen(0, '127.0.0.1', resolve));
  routerPort = (router.address() as AddressInfo).port;
});

afterEach(async () => {
  await open.route?.close();
  await open.fake?.close();
  delete open.route;
  delete open.api;
  delete open.fake;
});

afterAll(async () => {
  await new Promise<void>((resolve) => router.close(() => resolve()));
});

const service: Handler = () => ({
  status: 200,
  body: { spec: { selector: { app: 'sandbox-router' }, ports: [{ port: 8080, targetPort: 'http' }] } },
});
const readyPods: Handler = () => ({
  status: 200,
  body: {
    items: [
      {
        metadata: { name: 'router-old', deletionTimestamp: '2026-01-01T00:00:00Z' },
        status: { phase: 'Running' },
      },
      {
        metadata: { name: 'router-1' },
        spec: { containers: [{ ports: [{ name: 'http', containerPort: 8443 }] }] },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      },
    ],
  },
});
const allow =
  (denied: readonly string[] = []): Handler =>
  (body) => {
    const attrs = (
      body as { spec: { resourceAttributes: { verb: string; resource: string; subresource?: string } } }
    ).spec.resourceAttributes;
    const right = `${attrs.verb} ${attrs.resource}${attrs.subresource ? `/${attrs.subresource}` : ''}`;
    return { status: 201, body: { status: { allowed: !denied.includes(right) } } };
  };
const tokenSecret: Handler = () => ({
  status: 200,
  body: { data: { token: Buffer.from('router-token\n').toString('base64') } },
});
const forbidden: Handler = () => ({ status: 403, body: { message: 'secrets is forbidden: User "me"' } });
const notFound: Handler = () => ({ status: 404, body: { message: 'not found' } });

async function devRoute(
  routes: Record<string, Handler>,
  env: NodeJS.ProcessEnv = {},
): Promise<() => Promise<Route>> {
  const fake = await startFakeApiServer(routes, (pod, port) =>
    pod === 'router-1' && port === 8443
      ? { to: { port: routerPort } }
      : { to: { error: `unexpected ${pod}:${port}` } },
  );
  open.fake = fake;
  const api = new KubeApi(loadKubeConfig({ kubeconfig: fake.kubeconfig }));
  open.api = api;
  return prepareRoute({}, { kube: { api, cluster: new Cluster(api) }, claimNamespace: 'team', env });
}

function get(route: Route, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, route.origin),
      { agent: route.agent, headers: { ...route.headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test("the router in Sandbank's namespace, its Secret's token, plain HTTP on the loopback tunnel to its Ready pod", async () => {
  const openRoute = await devRoute({
    [`GET /api/v1/namespaces/${SYS}/services/sandbox-router-svc`]: service,
    [`GET /api/v1/namespaces/${SYS}/pods`]: readyPods,
    'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews': allow(),
    [`GET /api/v1/namespaces/${SYS}/secrets/sandbox-router-auth`]: tokenSecret,
  });
  const seen = open.fake?.seen.map((s) => s.line) ?? [];
  expect(seen).toContain('GET /api/v1/namespaces/team/services/sandbox-router-svc');
  expect(seen.filter((l) => l.includes('selfsubjectaccessreviews'))).toHaveLength(3);
  expect(seen).toContain(`GET /api/v1/namespaces/${SYS}/secrets/sandbox-router-tls`);
  expect(seen.some((l) => l.includes('/portforward'))).toBe(false); // nothing opened before asked

  const route = await openRoute();
  open.route = route;
  expect(route.mode).toBe('dev');
  expect(route.origin.protocol).toBe('http:');
  expect(route.origin.hostname).toBe('127.0.0.1');
  expect(route.headers).toEqual({ authorization: 'Bearer router-token' });
  expect(await get(route, '/healthz')).toBe('router says hi to /healthz');
  expect(routerSaw.at(-1)).toBe('Bearer router-token');
  expect(open.fake?.seen.filter((s) => s.line.includes('/portforward')).map((s) => s.authorization)).toEqual([
    `Bearer ${KUBE_TOKEN}`,
  ]);
});

test("no readable token: no Authorization at all, never the kubeconfig's own token", async () => {
  const openRoute = await devRoute({
    'GET /api/v1/namespaces/team/services/sandbox-router-svc': service,
    'GET /api/v1/namespaces/team/pods': readyPods,
    'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews': allow(),
    'GET /api/v1/namespaces/team/secrets/sandbox-router-auth': forbidden,
  });
  const route = await openRoute();
  open.route = route;
  expect(route.headers).toEqual({});
  expect(await get(route, '/x')).toBe('router says hi to /x');
  expect(routerSaw.at(-1)).toBeUndefined();
});

test('$SANDBANK_ROUTER_TOKEN wins over the Secret, which is then not read', async () => {
  const openRoute = await devRoute(
    {
      [`GET /api/v1/namespaces/${SYS}/services/sandbox-router-svc`]: service,
      [`GET /api/v1/namespaces/${SYS}/pods`]: readyPods,
      'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews': allow(),
      [`GET /api/v1/namespaces/${SYS}/secrets/sandbox-router-auth`]: tokenSecret,
    },
    { SANDBANK_ROUTER_TOKEN: 'env-token' },
  );
  const route = await openRoute();
  open.route = route;
  expect(route.headers).toEqual({ authorization: 'Bearer env-token' });
  expect(open.fake?.seen.some((s) => s.line.includes('sandbox-router-auth'))).toBe(false);
});

test('a TLS Secret with ca.crt makes the tunnel https, verified with that CA', async () => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const openRoute = await devRoute({
    [`GET /api/v1/namespaces/${SYS}/services/sandbox-router-svc`]: service,
    [`GET /api/v1/namespaces/${SYS}/pods`]: readyPods,
    'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews': allow(),
    [`GET /api/v1/namespaces/${SYS}/secrets/sandbox-router-tls`]: () => ({
      status: 200,
      body: { data: { 'ca.crt': Buffer.from(pem).toString('base64') } },
    }),
  });
  const route = await openRoute();
  open.route = route;
  expect(route.origin.protocol).toBe('https:');
  expect(route.trust).toBe(`https, verified with ca.crt of Secret ${SYS}/sandbox-router-tls`);
});

test('a missing port-forward right is refused before anything is created, naming it and the ways out', async () => {
  const error: unknown = await devRoute({
    [`GET /api/v1/namespaces/${SYS}/services/sandbox-router-svc`]: service,
    'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews': allow(['create pods/portforward']),
  }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PortForwardError);
  expect((error as Error).message).toMatch(
    new RegExp(
      `may not create pods/portforward in namespace ${SYS}: ask for a RoleBinding .* routerUrl \\(direct\\) or gatewayName`,
    ),
  );
});

test('no router Service: an install to make; a Service not readable: a right to ask for', async () => {
  await expect(devRoute({})).rejects.toThrow(
    `Service sandbox-router-svc not found in namespace team nor ${SYS}: install Sandbank`,
  );
  await open.fake?.close();
  delete open.fake;
  const error: unknown = await devRoute({
    [`GET /api/v1/namespaces/${SYS}/services/sandbox-router-svc`]: () => ({
      status: 403,
      body: { message: 'services "sandbox-router-svc" is forbidden' },
    }),
    'GET /api/v1/namespaces/team/services/sandbox-router-svc': notFound,
  }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PortForwardError);
  expect((error as Error).message).toMatch(
    new RegExp(
      `may not get services in namespace ${SYS} \\(the API server said: services "sandbox-router-svc" is forbidden\\); and there is no Service sandbox-router-svc in namespace team`,
    ),
  );
});

test('no Ready router pod is a PortForwardError before the claim', async () => {
  await expect(
    devRoute({
      [`GET /api/v1/namespaces/${SYS}/services/sandbox-router-svc`]: service,
      [`GET /api/v1/namespaces/${SYS}/pods`]: () => ({ status: 200, body: { items: [] } }),
      'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews': allow(),
    }),
  ).rejects.toThrow(/^no Ready pod behind Service sandbox-router-svc in namespace sandbank-system/);
});
