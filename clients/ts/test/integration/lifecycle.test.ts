/**
 * The client's lifecycle against the real stack (controller, router with token auth, agent; see
 * testing/src/client-stack.ts): create → Ready → attach → list → dispose deletes; an abort while
 * the claim waits deletes it; terminal reasons and timeouts are typed; an unsafe route is refused
 * before anything is created. Dev mode cannot run here (kwok serves no port-forward): its tunnel
 * is tested in test/unit/route-port-forward.test.ts against a fake API server.
 */
import { request } from 'node:http';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { integrationKubeConfig } from '@sandbank/e2e';
import { EXT, startClientStack, type ClientStack } from '@sandbank/testing';
import {
  InsecureTransport,
  Sandbox,
  SandboxTimeout,
  TemplateNotFound,
  type ConnectOptions,
  type RouterConnection,
} from '@sandbank/client';
import { claimExists, claimGone } from './claims.js';

/** A template whose pods never schedule (no node has the label): its claims stay pending. */
const UNSCHEDULABLE = 'never-ready';

let stack: ClientStack;
const kc = integrationKubeConfig();

const options = (): ConnectOptions => ({
  kubeconfig: stack.kubeconfigPath,
  namespace: stack.namespace,
  routerUrl: stack.routerUrl,
  token: stack.token,
});

const gone = (name: string): Promise<unknown> => claimGone(stack.namespace, name);

/** POST /exec through the connection, as the data plane calls the router. */
function exec(
  connection: RouterConnection,
  path: string,
  command: string[],
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(`${path}/exec`, connection.origin),
      {
        method: 'POST',
        agent: connection.agent,
        headers: { ...connection.headers, 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ command }));
  });
}

beforeAll(async () => {
  stack = await startClientStack();
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    ...EXT,
    namespace: stack.namespace,
    plural: 'sandboxtemplates',
    body: {
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxTemplate',
      metadata: { name: UNSCHEDULABLE },
      spec: {
        podTemplate: {
          spec: {
            hostNetwork: true,
            nodeSelector: { 'sandbank.dev/no-such-node': 'true' },
            containers: [{ name: 'runtime', image: 'sandbank/runtime:test' }],
          },
        },
      },
    },
  });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

test('create from the pool → Ready → the router runs a command → attach → list → dispose deletes the claim', async () => {
  let name: string;
  {
    await using sb = await Sandbox.create({ ...options(), pool: stack.pool });
    name = sb.claimName;
    expect(sb.mode).toBe('direct');
    expect(sb.owned).toBe(true);
    expect(sb.namespace).toBe(stack.namespace);
    expect(sb.target).toEqual({
      namespace: stack.namespace,
      claimName: name,
      sandboxName: expect.any(String),
    });
    expect(sb.connection.headers).toEqual({ authorization: `Bearer ${stack.token}` });

    const ran = await exec(
      sb.connection,
      `/v1/namespaces/${stack.namespace}/sandboxes/${sb.target.sandboxName}`,
      ['echo', 'hello'],
    );
    expect(ran.status).toBe(200);
    expect(JSON.parse(ran.body)).toMatchObject({ exitCode: 0, stdout: 'hello\n' });

    const attached = await Sandbox.attach(name, options());
    expect(attached.target).toEqual(sb.target);
    expect(attached.owned).toBe(false);
    await attached.close(); // an attached handle keeps the claim

    const listed = await Sandbox.list({ kubeconfig: stack.kubeconfigPath, namespace: stack.namespace });
    expect(listed).toContainEqual(
      expect.objectContaining({ name, state: 'Ready', sandboxName: sb.target.sandboxName, pool: stack.pool }),
    );
  }
  await gone(name);
});

test('an abort while the claim waits to be Ready deletes the claim and rejects with the reason', async () => {
  const name = `abort-${Date.now().toString(36)}`;
  const controller = new AbortController();
  const creating = Sandbox.create({
    ...options(),
    template: UNSCHEDULABLE,
    pool: 'none',
    name,
    signal: controller.signal,
  });
  await claimExists(stack.namespace, name);
  const reason = new Error('stop now');
  controller.abort(reason);
  await expect(creating).rejects.toBe(reason);
  await gone(name);
});

test('a claim not Ready in time is a SandboxTimeout, and the claim is deleted', async () => {
  const name = `slow-${Date.now().toString(36)}`;
  const error: unknown = await Sandbox.create({
    ...options(),
    template: UNSCHEDULABLE,
    pool: 'none',
    name,
    timeoutMs: 1_500,
  }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SandboxTimeout);
  expect(error).toMatchObject({ claim: name, timeoutMs: 1_500, code: 'sandbox_timeout' });
  await gone(name);
});

test('an unknown template is TemplateNotFound, and the claim is deleted', async () => {
  const name = `notpl-${Date.now().toString(36)}`;
  const error: unknown = await Sandbox.create({ ...options(), template: 'no-such-template', name }).catch(
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TemplateNotFound);
  expect(error).toMatchObject({ claim: name, reason: 'TemplateNotFound', code: 'template_not_found' });
  await gone(name);
});

test('a token over http:// to a host that is not loopback is refused before a claim is created', async () => {
  const before = await Sandbox.list({ kubeconfig: stack.kubeconfigPath, namespace: stack.namespace });
  const name = `insecure-${Date.now().toString(36)}`;
  await expect(
    Sandbox.create({ ...options(), pool: stack.pool, name, routerUrl: 'http://sandbank.example.com:8080' }),
  ).rejects.toBeInstanceOf(InsecureTransport);
  const after = await Sandbox.list({ kubeconfig: stack.kubeconfigPath, namespace: stack.namespace });
  expect(after.map((c) => c.name)).not.toContain(name);
  expect(after.length).toBeLessThanOrEqual(before.length);
});
