/** Every Kubernetes call is bounded: a caller's abort rejects with its reason, a silent server with a retryable KubernetesError. */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeKubeconfig } from './kubeconfig.js';
import { KubernetesError } from '../../src/client-errors.js';
import { KubeApi, loadKubeConfig } from '../../src/kube/api.js';

let silent: Server;
let dir: string;
let api: KubeApi;
const held: ServerResponse[] = [];
let arrived: () => void = () => undefined;

beforeAll(async () => {
  silent = createServer((_req, res) => {
    held.push(res); // never answered
    arrived();
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  dir = mkdtempSync(join(tmpdir(), 'sandbank-kube-api-'));
  const kubeconfig = writeKubeconfig(dir, `http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
  api = new KubeApi(loadKubeConfig({ kubeconfig }));
});

afterAll(async () => {
  for (const res of held) res.destroy();
  silent.closeAllConnections();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

test("an abort once the request is under way rejects with the signal's reason", async () => {
  const controller = new AbortController();
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  const call = api.call('reading x', 'GET', '/api/v1/x', { signal: controller.signal });
  await reached;
  const reason = new Error('user stopped');
  controller.abort(reason);
  await expect(call).rejects.toBe(reason);
});

test('a server that does not answer in time is a retryable KubernetesError naming the call', async () => {
  const error: unknown = await api
    .call('reading y', 'GET', '/api/v1/y', { timeoutMs: 200 })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(KubernetesError);
  expect(error).toMatchObject({
    status: undefined,
    retryable: true,
    message: 'reading y: the API server did not answer within 200 ms',
  });
});

test("a watch the server holds silent stops at the caller's abort", async () => {
  const events: unknown[] = [];
  const controller = new AbortController();
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  const watching = (async () => {
    for await (const event of api.watch('watching z', '/api/v1/z', 1, { signal: controller.signal }))
      events.push(event);
  })();
  await reached;
  controller.abort(new Error('done'));
  await expect(watching).rejects.toThrow('done');
  expect(events).toEqual([]);
});

test('a context that is not in the kubeconfig names the option', () => {
  expect(() => loadKubeConfig({ kubeconfig: join(dir, 'kubeconfig'), context: 'nope' })).toThrow(
    /^context: no context "nope" in /,
  );
  expect(() => loadKubeConfig({ kubeconfig: join(dir, 'missing') })).toThrow(/^kubeconfig: cannot load /);
});

test('a kubeconfig is read once while its file is unchanged, and read again once it changed', () => {
  const file = writeKubeconfig(dir, 'http://127.0.0.1:1', {}, 'changing-kubeconfig');
  const first = loadKubeConfig({ kubeconfig: file });
  expect(loadKubeConfig({ kubeconfig: file })).toBe(first);
  writeKubeconfig(dir, 'http://127.0.0.1:12345', {}, 'changing-kubeconfig');
  const edited = loadKubeConfig({ kubeconfig: file });
  expect(edited).not.toBe(first);
  expect(edited.getCurrentCluster()?.server).toBe('http://127.0.0.1:12345');
});
