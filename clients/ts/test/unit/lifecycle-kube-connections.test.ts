/**
 * Handles share their connections to the API server: a sandbox per handle must not pay a new
 * connection (over TLS, a handshake) for each of its calls, and a handle that closed leaves its
 * idle connection to the next. A watch, which ends by dropping its connection, has its own, so
 * a claim's delete finds the connection its create left.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeKubeconfig } from './kubeconfig.js';
import { KubeApi, loadKubeConfig } from '../../src/kube/api.js';
import { Claims } from '../../src/kube/claims.js';

const CLAIMS = '/apis/extensions.agents.x-k8s.io/v1beta1/namespaces/ns/sandboxclaims';
const readyClaim = {
  metadata: { name: 'c1', resourceVersion: '2' },
  status: { conditions: [{ type: 'Ready', status: 'True' }], sandbox: { name: 'c1' } },
};

let server: Server;
let connections = 0;
/** `METHOD path` of each request with the number of the connection it came on. */
const requests: { line: string; connection: number }[] = [];
const connectionIds = new WeakMap<Socket, number>();
let dir: string;
let kubeconfig: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    requests.push({
      line: `${req.method ?? ''} ${url.pathname}`,
      connection: connectionIds.get(req.socket) ?? 0,
    });
    req.resume();
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
    if (url.pathname === '/apis/extensions.agents.x-k8s.io') {
      res.end(JSON.stringify({ versions: [{ version: 'v1beta1' }] }));
    } else if (url.pathname === CLAIMS && req.method === 'POST') {
      res.end(JSON.stringify({ metadata: { name: 'c1', resourceVersion: '1' } }));
    } else if (url.searchParams.get('watch') === 'true') {
      // The claim turns Ready; the stream stays open, as a watch does until its timeout.
      res.write(`${JSON.stringify({ type: 'MODIFIED', object: readyClaim })}\n`);
    } else {
      res.end('{}');
    }
  });
  server.on('connection', (socket) => connectionIds.set(socket, ++connections));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  dir = mkdtempSync(join(tmpdir(), 'sandbank-kube-connections-'));
  kubeconfig = writeKubeconfig(dir, serverUrl());
});

const serverUrl = (): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

test('one handle after another reuses the first one’s connection to the API server', async () => {
  const before = connections;
  for (let i = 0; i < 3; i++) {
    const api = new KubeApi(loadKubeConfig({ kubeconfig }));
    expect((await api.call('reading x', 'GET', '/api/v1/x')).status).toBe(200);
    expect((await api.call('reading y', 'GET', '/api/v1/y')).status).toBe(200);
  }
  expect(connections - before).toBe(1);
});

test('handles with other client certificates do not share a connection; handles with the same one do', async () => {
  const certificate = (name: string): Record<string, string> => ({
    'client-certificate-data': Buffer.from(`certificate of ${name}`).toString('base64'),
    'client-key-data': Buffer.from(`key of ${name}`).toString('base64'),
  });
  const alice = writeKubeconfig(dir, serverUrl(), certificate('alice'), 'alice');
  const bob = writeKubeconfig(dir, serverUrl(), certificate('bob'), 'bob');
  const before = connections;
  for (const file of [alice, bob, alice, bob]) {
    const api = new KubeApi(loadKubeConfig({ kubeconfig: file }));
    expect((await api.call('reading x', 'GET', '/api/v1/x')).status).toBe(200);
  }
  expect(connections - before).toBe(2);
});

test("a claim's delete goes over the connection its create left idle, the watch between over its own", async () => {
  const claims = new Claims(new KubeApi(loadKubeConfig({ kubeconfig })));
  for (let round = 0; round < 3; round++) {
    requests.length = 0;
    const created = await claims.create('ns', 'v1beta1', {}, 'c1');
    await claims.waitReady('ns', 'c1', 10_000, created);
    expect(await claims.delete('ns', 'c1', 10_000)).toBe(true);
    const on = (line: string): number | undefined => requests.find((r) => r.line === line)?.connection;
    const watch = requests.find((r) => r.line === `GET ${CLAIMS}`)?.connection;
    expect(on(`DELETE ${CLAIMS}/c1`)).toBe(on(`POST ${CLAIMS}`));
    expect(watch).toBeDefined();
    expect(watch).not.toBe(on(`POST ${CLAIMS}`));
  }
});
