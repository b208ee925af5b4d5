/** Direct and gateway mode: the origin, the token, and the refusals made before any claim. */
import {
  ConfigurationError,
  GatewayNotReady,
  InsecureTransport,
  KubernetesError,
} from '../../src/client-errors.js';
import { Cluster } from '../../src/kube/cluster.js';
import { KubeApi, loadKubeConfig } from '../../src/kube/api.js';
import { prepareRoute, type Route, type RouteContext } from '../../src/route/index.js';
import { startFakeApiServer, type FakeApiServer, type Handler } from './route-fake-apiserver.js';

const direct: RouteContext = { kube: undefined, claimNamespace: 'team', env: {} };
const opened: Route[] = [];
const open = async (p: Promise<() => Promise<Route>>): Promise<Route> => {
  const route = await (await p)();
  opened.push(route);
  return route;
};

afterEach(async () => {
  for (const route of opened.splice(0)) await route.close();
});

describe('direct', () => {
  test('routerUrl is the origin; the token goes as a bearer header', async () => {
    const route = await open(
      prepareRoute({ routerUrl: 'https://sandbank.example.com:8443/', token: 't' }, direct),
    );
    expect(route.mode).toBe('direct');
    expect(route.origin.href).toBe('https://sandbank.example.com:8443/');
    expect(route.headers).toEqual({ authorization: 'Bearer t' });
  });

  test('a path, a query or credentials in routerUrl are refused', async () => {
    await expect(prepareRoute({ routerUrl: 'https://r.example/api' }, direct)).rejects.toThrow(
      ConfigurationError,
    );
    await expect(prepareRoute({ routerUrl: 'https://user:pw@r.example' }, direct)).rejects.toThrow(
      /^routerUrl: only scheme, host and port are used/,
    );
  });

  test('a token from $SANDBANK_ROUTER_TOKEN over http:// beyond loopback is InsecureTransport, unless allowed', async () => {
    const env = { SANDBANK_ROUTER_TOKEN: 't' };
    await expect(prepareRoute({ routerUrl: 'http://10.0.0.1:8080' }, { ...direct, env })).rejects.toThrow(
      InsecureTransport,
    );
    const allowed = await open(
      prepareRoute(
        { routerUrl: 'http://10.0.0.1:8080' },
        { ...direct, env: { ...env, SANDBANK_ALLOW_INSECURE: '1' } },
      ),
    );
    expect(allowed.headers).toEqual({ authorization: 'Bearer t' });
    const local = await open(prepareRoute({ routerUrl: 'http://localhost:8080' }, { ...direct, env }));
    expect(local.origin.protocol).toBe('http:');
  });
});

describe('gateway', () => {
  let fake: FakeApiServer | undefined;
  let api: KubeApi | undefined;
  afterEach(async () => {
    await fake?.close();
  });
  const withGateway = async (handler: Handler): Promise<RouteContext> => {
    fake = await startFakeApiServer({
      'GET /apis/gateway.networking.k8s.io/v1/namespaces/gw/gateways': handler,
    });
    api = new KubeApi(loadKubeConfig({ kubeconfig: fake.kubeconfig }));
    return { kube: { api, cluster: new Cluster(api) }, claimNamespace: 'team', env: {} };
  };
  const event =
    (addresses: { value: string }[]): Handler =>
    () => ({
      status: 200,
      body: { type: 'ADDED', object: { metadata: { name: 'g' }, status: { addresses } } },
    });

  test("the Gateway's first address, https by default (an IPv6 one in brackets)", async () => {
    const route = await open(
      prepareRoute(
        { gatewayName: 'g', gatewayNamespace: 'gw' },
        await withGateway(event([{ value: '10.1.2.3' }])),
      ),
    );
    expect(route.origin.href).toBe('https://10.1.2.3/');
    expect(fake?.seen[0]?.line).toMatch(
      /^GET \/apis\/gateway\.networking\.k8s\.io\/v1\/namespaces\/gw\/gateways\?.*watch=true/,
    );
    await fake?.close();
    const v6 = await open(
      prepareRoute(
        { gatewayName: 'g', gatewayNamespace: 'gw' },
        await withGateway(event([{ value: 'fd00::1' }])),
      ),
    );
    expect(v6.origin.href).toBe('https://[fd00::1]/');
  });

  test('gatewayScheme http with a token is InsecureTransport naming the Gateway', async () => {
    await expect(
      prepareRoute(
        { gatewayName: 'g', gatewayNamespace: 'gw', gatewayScheme: 'http', token: 't' },
        await withGateway(event([{ value: 'gw.example.com' }])),
      ),
    ).rejects.toThrow(/^Gateway gw\/g \(http:\/\/gw\.example\.com\/, gatewayScheme http\): refusing/);
  });

  test('no address in time is GatewayNotReady (a watch ended at once is asked again after a pause); no Gateway API is a KubernetesError that says so', async () => {
    await expect(
      prepareRoute(
        { gatewayName: 'g', gatewayNamespace: 'gw', gatewayTimeoutMs: 300 },
        await withGateway(event([])),
      ),
    ).rejects.toThrow(GatewayNotReady);
    // A server that ends every watch at once is not asked again in a tight loop.
    expect(fake?.seen.length).toBeLessThanOrEqual(3);
    await fake?.close();
    const error: unknown = await prepareRoute(
      { gatewayName: 'g', gatewayNamespace: 'gw' },
      await withGateway(() => ({
        status: 404,
        body: { message: 'the server could not find the requested resource' },
      })),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubernetesError);
    expect((error as Error).message).toBe('Gateway gw/g: the Gateway API is not installed on this cluster');
  });
});
