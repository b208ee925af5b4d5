/**
 * Handles share their connections to the API server: a sandbox per handle must not pay a new
 * connection (over TLS, a handshake) for each of its calls, and a handle that closed leaves its
 * idle connection to the next.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeKubeconfig } from './kubeconfig.js';
import { KubeApi, loadKubeConfig } from '../../src/kube/api.js';

let server: Server;
let connections = 0;
let dir: string;
let kubeconfig: string;

beforeAll(async () => {
  server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  dir = mkdtempSync(join(tmpdir(), 'sandbank-kube-connections-'));
  kubeconfig = writeKubeconfig(dir, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

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
