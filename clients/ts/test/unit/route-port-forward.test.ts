/**
 * Dev mode's tunnel against a fake API server speaking the port-forward channel protocol: bytes
 * flow both ways through @kubernetes/client-node's PortForward, the kubeconfig's token goes to
 * the API server only, a far-end error closes the connection and is kept for messages, and the
 * Pod is looked up again after a failure.
 */
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { once } from 'node:events';
import { KubeApi, loadKubeConfig } from '../../src/kube/api.js';
import { startPortForward, type LocalPortForward } from '../../src/kube/port-forward.js';
import { KUBE_TOKEN, startFakeApiServer, type FakeApiServer, type Forward } from './route-fake-apiserver.js';

let echo: Server;
let echoPort: number;
let fake: FakeApiServer;
let forwardTo: (pod: string) => Forward;
let tunnel: LocalPortForward | undefined;
let api: KubeApi;

beforeAll(async () => {
  echo = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as AddressInfo).port;
  fake = await startFakeApiServer({}, (pod) => forwardTo(pod));
  api = new KubeApi(loadKubeConfig({ kubeconfig: fake.kubeconfig }));
});

afterEach(async () => {
  await tunnel?.close();
  tunnel = undefined;
});

afterAll(async () => {
  await fake.close();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

/** Sends `text` through the tunnel and resolves with what comes back before the far end ends it, or `closed`. */
async function roundTrip(port: number, text: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let got = '';
  socket.setEncoding('utf8');
  return new Promise((resolve) => {
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (got.length >= text.length) {
        socket.end();
        resolve(got);
      }
    });
    socket.on('close', () => resolve(got || 'closed'));
    socket.on('error', () => undefined);
    socket.write(text);
  });
}

test('bytes go through the API server to the pod port and back, on a loopback port', async () => {
  forwardTo = () => ({ to: { port: echoPort } });
  tunnel = await startPortForward({
    api,
    namespace: 'ns',
    target: async () => ({ pod: 'router-0', port: 8080 }),
  });
  expect(tunnel.port).toBeGreaterThan(0);
  expect(await roundTrip(tunnel.port, 'hello through the tunnel')).toBe('hello through the tunnel');
  expect(await roundTrip(tunnel.port, 'a second connection')).toBe('a second connection');
  const upgrades = fake.seen.filter((s) => s.line.includes('/portforward'));
  expect(upgrades.at(-1)?.line).toBe('GET /api/v1/namespaces/ns/pods/router-0/portforward?ports=8080');
  // The kubeconfig's credentials authenticate the stream to the API server.
  expect(upgrades.every((s) => s.authorization === `Bearer ${KUBE_TOKEN}`)).toBe(true);
  expect(tunnel.lastError()).toBe('');
});

test('an error from the far end closes the connection, is kept, and the next connection looks the pod up again', async () => {
  forwardTo = (pod) =>
    pod === 'old'
      ? { to: { error: 'error forwarding port 8080: connection refused' } }
      : { to: { port: echoPort } };
  const pods = ['old', 'new'];
  let lookups = 0;
  tunnel = await startPortForward({
    api,
    namespace: 'ns',
    target: async () => ({ pod: pods[lookups++] ?? 'new', port: 8080 }),
  });
  expect(await roundTrip(tunnel.port, 'lost')).toBe('closed');
  expect(tunnel.lastError()).toBe('pod ns/old port 8080: error forwarding port 8080: connection refused');
  expect(await roundTrip(tunnel.port, 'found again')).toBe('found again');
  expect(lookups).toBe(2);
});

test('close() ends open connections and stops listening', async () => {
  forwardTo = () => ({ to: { port: echoPort } });
  tunnel = await startPortForward({ api, namespace: 'ns', target: async () => ({ pod: 'p', port: 8080 }) });
  const socket = connect(tunnel.port, '127.0.0.1');
  await once(socket, 'connect');
  const closed = once(socket, 'close');
  await tunnel.close();
  await closed;
  const refused = connect(tunnel.port, '127.0.0.1');
  const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  expect(error.code).toBe('ECONNREFUSED');
});
