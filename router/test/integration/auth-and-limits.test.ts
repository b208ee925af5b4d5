/**
 * Auth in all three modes (kubernetes: real TokenReview + SubjectAccessReview against the API
 * server, a ServiceAccount allowed on claim A is refused on claim B; read-only roles are refused,
 * the shipped sandbank-user role is allowed) and every limit, each with its clear error.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { applyManifests, integrationKubeConfig, repoRoot } from '@sandbank/e2e';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import {
  AGENT_PROTOCOL_LABEL,
  createAccessReviewer,
  createClusterLookup,
  createLogger,
  createMetrics,
  kubernetesAuthenticator,
  tokenAuthenticator,
  namespaceScope,
} from '../../src/index.js';
import type { SandboxLookup } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { Changes, TestCluster } from '@sandbank/testing';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { openExec } from '../helpers/ws.js';

const kc = integrationKubeConfig();
const cluster = new TestCluster(kc, 'router-auth');
const ns = cluster.namespace;
const changes = new Changes();
let agent: TestAgent;
let lookup: SandboxLookup;
const routers: TestRouter[] = [];

const ports = (): { grpcPort: number; legacyPort: number } => ({
  grpcPort: agent.grpcPort,
  legacyPort: agent.restPort,
});
const statUrl = (r: TestRouter, name: string): string =>
  `${r.url}/v1/namespaces/${ns}/sandboxes/${name}/stat`;
const execWs = (r: TestRouter, name: string): string =>
  `${r.wsUrl}/v1/namespaces/${ns}/sandboxes/${name}/exec`;
const errorCode = async (res: Response): Promise<string> =>
  ((await res.json()) as { error: { code: string } }).error.code;

/** A property of a thrown value, when it has it. */
function field(thrown: unknown, key: string): unknown {
  return typeof thrown === 'object' && thrown !== null && key in thrown
    ? (thrown as Record<string, unknown>)[key]
    : undefined;
}

async function router(deps: Parameters<typeof startRouter>[0]): Promise<TestRouter> {
  const r = await startRouter(deps);
  routers.push(r);
  return r;
}

beforeAll(async () => {
  await cluster.setUp();
  // The suite's agent checks its pod's credential, as every controller-made sandbox does.
  agent = await startAgent({ ip: '127.0.0.4', grpcPort: 0, credential: { namespace: ns } });
  lookup = createClusterLookup({
    kc,
    namespaces: [ns],
    log: createLogger('silent'),
    onChange: changes.notify,
  });
  await cluster.bindSandbox('claim-a', '127.0.0.4', {}, agent.annotation);
  await cluster.bindSandbox('claim-b', '127.0.0.4', {}, agent.annotation);
  await changes.routable(lookup, { namespace: ns, name: 'claim-a' });
  await changes.routable(lookup, { namespace: ns, name: 'claim-b' });
});

afterAll(async () => {
  for (const r of routers) await r.close();
  await lookup?.close();
  await agent?.close();
  await cluster.tearDown();
});

describe('auth', () => {
  test('token mode: missing and wrong tokens are 401, the right one passes (HTTP, legacy, WebSocket)', async () => {
    const token = randomBytes(24).toString('base64url');
    const metrics = createMetrics();
    const r = await router({
      lookup,
      agentPorts: ports(),
      auth: tokenAuthenticator({ token: { token, namespaces: namespaceScope([ns]) } }, metrics),
      metrics,
    });
    expect((await fetch(statUrl(r, 'claim-a'))).status).toBe(401);
    const wrong = await fetch(statUrl(r, 'claim-a'), { headers: { authorization: 'Bearer nope-nope-nope' } });
    expect(wrong.status).toBe(401);
    expect(await errorCode(wrong)).toBe('unauthenticated');
    expect(
      (await fetch(statUrl(r, 'claim-a'), { headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(200);
    const legacy = await fetch(`${r.url}/exists/x`, {
      headers: { 'x-sandbox-id': 'claim-a', 'x-sandbox-namespace': ns },
    });
    expect(legacy.status).toBe(401);
    expect(await legacy.json()).toEqual({
      detail: 'missing credentials: send Authorization: Bearer <router token>',
    });
    await expect(openExec(execWs(r, 'claim-a'))).rejects.toMatchObject({ statusCode: 401 });
    const ok = await openExec(execWs(r, 'claim-a'), { authorization: `Bearer ${token}` });
    ok.ws.close();
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/sandbank_router_auth_decisions_total\{mode="token",decision="allowed"\} [1-9]/);
    expect(text).toMatch(/sandbank_router_auth_decisions_total\{mode="token",decision="denied"\} [1-9]/);
  });

  test('kubernetes mode: TokenReview + SubjectAccessReview; allowed on claim A, refused on claim B', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await cluster.core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: 'alice' } },
    });
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'use-claim-a' },
        rules: [
          {
            apiGroups: ['extensions.agents.x-k8s.io'],
            resources: ['sandboxclaims/exec'],
            verbs: ['create'],
            resourceNames: ['claim-a'],
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'alice-use-claim-a' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'use-claim-a' },
        subjects: [{ kind: 'ServiceAccount', name: 'alice', namespace: ns }],
      },
    });
    const tr = await cluster.core.createNamespacedServiceAccountToken({
      name: 'alice',
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tr.status?.token ?? '';
    expect(token).not.toBe('');
    const metrics = createMetrics();
    const auth = kubernetesAuthenticator({ reviewer: createAccessReviewer(kc), ttlMs: 10_000, metrics });
    const r = await router({ lookup, agentPorts: ports(), auth, metrics });
    const bearer = { authorization: `Bearer ${token}` };
    expect((await fetch(statUrl(r, 'claim-a'), { headers: bearer })).status).toBe(200);
    const b = await fetch(statUrl(r, 'claim-b'), { headers: bearer });
    expect(b.status).toBe(403);
    expect(await b.json()).toEqual({
      error: {
        code: 'permission_denied',
        message: `system:serviceaccount:${ns}:alice may not create sandboxclaims/exec on claim-b in namespace ${ns}`,
      },
    });
    expect((await fetch(statUrl(r, 'claim-a'))).status).toBe(401);
    expect(
      (await fetch(statUrl(r, 'claim-a'), { headers: { authorization: 'Bearer not.a.token' } })).status,
    ).toBe(401);
    // The legacy surface asks the same question about X-Sandbox-ID.
    const legacyB = await fetch(`${r.url}/exists/x`, {
      headers: { ...bearer, 'x-sandbox-id': 'claim-b', 'x-sandbox-namespace': ns },
    });
    expect(legacyB.status).toBe(403);
    // WebSocket upgrades too.
    await expect(openExec(execWs(r, 'claim-b'), bearer)).rejects.toMatchObject({ statusCode: 403 });
    // Answers are cached: a second round costs no new reviews (decisions still counted).
    expect((await fetch(statUrl(r, 'claim-a'), { headers: bearer })).status).toBe(200);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/decision="denied"\} 3/);
  });
});

describe('kubernetes mode: the exec permission', () => {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const reviewer = createAccessReviewer(kc);
  const user = (sa: string) => ({
    username: `system:serviceaccount:${ns}:${sa}`,
    uid: undefined,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
    extra: {},
  });
  const ext = {
    namespace: ns,
    group: 'extensions.agents.x-k8s.io',
    resource: 'sandboxclaims',
    name: 'claim-a',
  };

  async function serviceAccountToken(name: string): Promise<string> {
    await cluster.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    const tr = await cluster.core.createNamespacedServiceAccountToken({
      name,
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tr.status?.token ?? '';
    expect(token).not.toBe('');
    return token;
  }

  async function bind(sa: string, kind: 'Role' | 'ClusterRole', role: string): Promise<void> {
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: `${sa}-${role}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: role },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
      },
    });
  }

  /** Waits until the API server's RBAC authorizer has seen the bindings (its informer lags). */
  async function effective(sa: string, verb: string, subresource?: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const attrs = { ...ext, verb, ...(subresource ? { subresource } : {}) };
      if ((await reviewer.authorize(user(sa), attrs)).allowed) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${sa} never got ${verb} ${subresource ?? ''}`);
  }

  test('read-only roles (get on the claim, view, sandbank-viewer) are refused on every surface; sandbank-user is allowed', async () => {
    const kubeconfig = process.env['SANDBANK_KUBECONFIG'] ?? '';
    await applyManifests(kubeconfig, [join(repoRoot, 'manifests/base/user-roles.yaml')]);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'read-claims' },
        rules: [
          {
            apiGroups: ['extensions.agents.x-k8s.io'],
            resources: ['sandboxclaims'],
            verbs: ['get', 'list', 'watch'],
          },
        ],
      },
    });
    const reader = await serviceAccountToken('reader');
    await bind('reader', 'Role', 'read-claims');
    await bind('reader', 'ClusterRole', 'view');
    await bind('reader', 'ClusterRole', 'sandbank-viewer');
    const runner = await serviceAccountToken('runner');
    await bind('runner', 'ClusterRole', 'sandbank-user');
    await effective('reader', 'get');
    await effective('runner', 'create', 'exec');

    const r = await router({
      lookup,
      agentPorts: ports(),
      auth: kubernetesAuthenticator({ reviewer, ttlMs: 10_000 }),
    });
    const surfaces = async (token: string) => {
      const headers = { authorization: `Bearer ${token}` };
      const exec = await fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/claim-a/exec`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ shell: 'echo ran' }),
      });
      const file = await fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/claim-a/files/f.txt`, {
        method: 'PUT',
        headers,
        body: 'written',
      });
      const legacy = await fetch(`${r.url}/execute`, {
        method: 'POST',
        headers: { ...headers, 'x-sandbox-id': 'claim-a', 'x-sandbox-namespace': ns },
        body: JSON.stringify({ command: 'echo ran' }),
      });
      const ws = await openExec(execWs(r, 'claim-a'), headers).then(
        (s) => {
          s.ws.close();
          return 101;
        },
        (e: unknown) => field(e, 'statusCode'),
      );
      const client = createAgentClient(r.grpcAddress, credentials.createInsecure());
      const md = new Metadata();
      md.set('x-sandbox-id', 'claim-a');
      md.set('x-sandbox-namespace', ns);
      md.set('authorization', `Bearer ${token}`);
      const grpc = await createAgentPromiseClient(client)
        .run({ process: { command: { case: 'shell', value: 'echo ran' } } }, { metadata: md })
        .then(
          () => status.OK,
          (e: unknown) => field(e, 'code'),
        );
      client.close();
      return {
        exec: [exec.status, await exec.text()],
        file: file.status,
        legacy: legacy.status,
        ws,
        grpc,
      };
    };

    const refused = await surfaces(reader);
    expect(refused).toEqual({
      exec: [
        403,
        JSON.stringify({
          error: {
            code: 'permission_denied',
            message: `system:serviceaccount:${ns}:reader may not create sandboxclaims/exec on claim-a in namespace ${ns}`,
          },
        }),
      ],
      file: 403,
      legacy: 403,
      ws: 403,
      grpc: status.PERMISSION_DENIED,
    });
    const allowed = await surfaces(runner);
    expect(allowed).toMatchObject({ file: 201, legacy: 200, ws: 101, grpc: status.OK });
    expect(allowed.exec[0]).toBe(200);
    expect(JSON.parse(String(allowed.exec[1]))).toMatchObject({ stdout: 'ran\n', exitCode: 0 });
  });
});

describe('per-pod agent credentials', () => {
  // Two agents, each checking the credential of its own pod (a nonce of its own, as the controller
  // mints them), on the ports every pod uses; the router derives each pod's token from its
  // annotation in the pod cache, fed by the real API server.
  let agentA: TestAgent;
  let agentB: TestAgent;
  const ipA = '127.0.0.6';
  const ipB = '127.0.0.7';

  beforeAll(async () => {
    const same = { grpcPort: agent.grpcPort, restPort: agent.restPort };
    agentA = await startAgent({ ip: ipA, ...same, credential: { namespace: ns } });
    agentB = await startAgent({ ip: ipB, ...same, credential: { namespace: ns } });
    const http = { [AGENT_PROTOCOL_LABEL]: 'http' };
    await cluster.bindSandbox('cred-a', ipA, {}, agentA.annotation);
    await cluster.bindSandbox('cred-b', ipB, {}, agentB.annotation);
    // The same pods reached as plain HTTP (the legacy REST path, proxied to the agent's port).
    await cluster.bindSandbox('cred-a-http', ipA, http, agentA.annotation);
    await cluster.bindSandbox('cred-b-http', ipB, http, agentB.annotation);
    // B's nonce on a pod served by A's agent: the router presents B's token, which A must refuse.
    await cluster.bindSandbox('cred-swapped', ipA, {}, agentB.annotation);
    await cluster.bindSandbox('cred-swapped-http', ipA, http, agentB.annotation);
    await cluster.bindSandbox('cred-none', ipA);
    await cluster.bindSandbox('cred-bad', ipA, {}, 'v1.not-a-nonce');
    for (const name of [
      'cred-a',
      'cred-b',
      'cred-a-http',
      'cred-b-http',
      'cred-swapped',
      'cred-swapped-http',
      'cred-none',
      'cred-bad',
    ]) {
      await changes.routable(lookup, { namespace: ns, name });
    }
  });

  afterAll(async () => {
    await agentA?.close();
    await agentB?.close();
  });

  const v1Exec = (r: TestRouter, name: string): Promise<Response> =>
    fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/${name}/exec`, {
      method: 'POST',
      body: JSON.stringify({ shell: 'pwd' }),
    });
  const legacyExecute = (r: TestRouter, name: string): Promise<Response> =>
    fetch(`${r.url}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sandbox-id': name, 'x-sandbox-namespace': ns },
      body: JSON.stringify({ command: 'pwd' }),
    });
  const passthroughRun = async (r: TestRouter, name: string): Promise<string> => {
    const client = createAgentClient(r.grpcAddress, credentials.createInsecure());
    const md = new Metadata();
    md.set('x-sandbox-id', name);
    md.set('x-sandbox-namespace', ns);
    try {
      const reply = await createAgentPromiseClient(client).run(
        { process: { command: { case: 'shell', value: 'pwd' } } },
        { metadata: md },
      );
      return Buffer.from(reply.stdout).toString();
    } finally {
      client.close();
    }
  };
  const wsRun = async (r: TestRouter, name: string): Promise<string> => {
    const s = await openExec(execWs(r, name));
    s.ws.send(JSON.stringify({ type: 'start', shell: 'pwd' }));
    await s.closed;
    return s.stdout();
  };

  test("the router presents each pod its own token: gRPC (v1, legacy, WebSocket, passthrough) and the agent's REST API", async () => {
    expect(agentA.annotation).toBeDefined();
    expect(agentA.annotation).not.toBe(agentB.annotation);
    const r = await router({ lookup, agentPorts: ports() });
    for (const [name, target] of [
      ['cred-a', agentA],
      ['cred-b', agentB],
    ] as const) {
      // `pwd` is the agent's workspace: each call reached the agent of its own pod.
      const v1 = await v1Exec(r, name);
      expect([name, v1.status]).toEqual([name, 200]);
      expect(((await v1.json()) as { stdout: string }).stdout).toBe(`${target.dir}\n`);
      const legacy = await legacyExecute(r, name);
      expect([name, legacy.status]).toEqual([name, 200]);
      expect(((await legacy.json()) as { stdout: string }).stdout).toBe(`${target.dir}\n`);
      expect(await passthroughRun(r, name)).toBe(`${target.dir}\n`);
      expect(await wsRun(r, name)).toBe(`${target.dir}\n`);
      const rest = await legacyExecute(r, `${name}-http`);
      expect([name, rest.status]).toEqual([name, 200]);
      expect(((await rest.json()) as { stdout: string }).stdout).toBe(`${target.dir}\n`);
    }
  });

  test("another pod's token, no token, a malformed annotation or no key: refused, never run", async () => {
    const r = await router({ lookup, agentPorts: ports() });
    const marker = join(agentA.dir, 'ran');
    const runs = async (name: string): Promise<Response> =>
      fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/${name}/exec`, {
        method: 'POST',
        body: JSON.stringify({ shell: `touch ${marker}` }),
      });

    // Another pod's token (gRPC): the agent refuses the router, and says so.
    const swapped = await runs('cred-swapped');
    expect(swapped.status).toBe(502);
    expect(await swapped.json()).toEqual({
      error: {
        code: 'upstream_failed',
        message: 'the sandbox agent refused the router (agent token mismatch); tell the operator',
      },
    });
    await expect(passthroughRun(r, 'cred-swapped')).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    // …and on its REST API, whose 401 is passed through as any proxied answer.
    const swappedRest = await legacyExecute(r, 'cred-swapped-http');
    expect([swappedRest.status, await swappedRest.text()]).toEqual([401, '{"detail":"Not authenticated"}']);

    // A pod without the annotation gets no credential: the agent of a credentialed pod refuses it.
    const none = await runs('cred-none');
    expect(none.status).toBe(502);
    expect(await errorCode(none)).toBe('upstream_failed');

    // A malformed annotation: the router refuses to call the pod, naming the annotation.
    const bad = await runs('cred-bad');
    expect(bad.status).toBe(502);
    const badBody = (await bad.json()) as { error: { code: string; message: string } };
    expect(badBody.error.code).toBe('upstream_failed');
    expect(badBody.error.message).toMatch(/sandbank\.dev\/agent-credential "v1\.not-a-nonce"/);
    const badLegacy = await legacyExecute(r, 'cred-bad');
    expect(badLegacy.status).toBe(502);

    // A router without the agent key, or with another key, cannot call credentialed pods.
    const keyless = await router({ lookup, agentPorts: ports(), agentKey: undefined });
    const noKey = await fetch(`${keyless.url}/v1/namespaces/${ns}/sandboxes/cred-a/exec`, {
      method: 'POST',
      body: JSON.stringify({ shell: `touch ${marker}` }),
    });
    expect(noKey.status).toBe(502);
    expect(((await noKey.json()) as { error: { message: string } }).error.message).toMatch(
      /has no agent key \(ROUTER_AGENT_KEY_FILE\)/,
    );
    const otherKey = await router({ lookup, agentPorts: ports(), agentKey: randomBytes(32) });
    const wrongKey = await fetch(`${otherKey.url}/v1/namespaces/${ns}/sandboxes/cred-a/exec`, {
      method: 'POST',
      body: JSON.stringify({ shell: `touch ${marker}` }),
    });
    expect(wrongKey.status).toBe(502);

    expect(existsSync(marker)).toBe(false);
  });
});

describe('limits', () => {
  test('request body over the limit is 413', async () => {
    const r = await router({
      lookup,
      agentPorts: ports(),
      limits: { maxBodyBytes: 1024 * 1024, maxJsonBytes: 1024 },
    });
    const put = await fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/claim-a/files/too-big`, {
      method: 'PUT',
      body: randomBytes(2 * 1024 * 1024),
    });
    expect(put.status).toBe(413);
    expect(await errorCode(put)).toBe('payload_too_large');
    const json = await fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/claim-a/exec`, {
      method: 'POST',
      body: JSON.stringify({ shell: 'x'.repeat(2000) }),
    });
    expect(json.status).toBe(413);
    const legacy = await fetch(`${r.url}/execute`, {
      method: 'POST',
      headers: {
        'x-sandbox-id': 'claim-a',
        'x-sandbox-namespace': ns,
        'x-sandbox-port': String(agent.restPort),
      },
      body: JSON.stringify({ command: 'x'.repeat(2000) }),
    });
    expect(legacy.status).toBe(413);
    expect(((await legacy.json()) as { detail: string }).detail).toBe('request body over 1024 bytes');
  });

  test('X-Sandbox-Timeout is honoured and capped: 504', async () => {
    const r = await router({ lookup, agentPorts: ports(), limits: { requestTimeoutMs: 1_000 } });
    const started = Date.now();
    const slow = await fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/claim-a/exec`, {
      method: 'POST',
      headers: { 'x-sandbox-timeout': '0.3' },
      body: JSON.stringify({ shell: 'sleep 5' }),
    });
    expect(slow.status).toBe(504);
    expect(await errorCode(slow)).toBe('deadline_exceeded');
    expect(Date.now() - started).toBeLessThan(2_000);
    // Asking for more than the cap gets the cap.
    const capped = await fetch(`${r.url}/execute`, {
      method: 'POST',
      headers: {
        'x-sandbox-id': 'claim-a',
        'x-sandbox-namespace': ns,
        'x-sandbox-port': String(agent.restPort),
        'x-sandbox-timeout': '600',
      },
      body: JSON.stringify({ command: 'sleep 5' }),
    });
    expect(capped.status).toBe(504);
    expect(((await capped.json()) as { detail: string }).detail).toMatch(/did not finish within its timeout/);
    const bad = await fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/claim-a/stat`, {
      headers: { 'x-sandbox-timeout': 'soon' },
    });
    expect(bad.status).toBe(400);
  });

  test('WebSocket idle timeout, max lifetime and per-message size', async () => {
    // Margins that hold on a busy machine: a tick every 0.1 s against a 1.5 s idle timeout (a
    // busy session would have to miss 15 ticks in a row to look idle), and a lifetime three
    // times the idle timeout, so the busy session visibly outlives it.
    const wsIdleTimeoutMs = 1_500;
    const wsMaxLifetimeMs = 3 * wsIdleTimeoutMs;
    const r = await router({
      lookup,
      agentPorts: ports(),
      limits: { wsIdleTimeoutMs, wsMaxLifetimeMs, wsMaxMessageBytes: 1024 },
    });
    const openedAt = performance.now();
    const [idle, busy] = await Promise.all([openExec(execWs(r, 'claim-a')), openExec(execWs(r, 'claim-a'))]);
    idle.ws.send(JSON.stringify({ type: 'start', shell: 'sleep 30' }));
    busy.ws.send(JSON.stringify({ type: 'start', shell: 'while true; do echo tick; sleep 0.1; done' }));
    const busyEnded = busy.closed.then((closed) => ({ ...closed, livedMs: performance.now() - openedAt }));

    const idleClosed = await idle.closed;
    expect(idleClosed.code).toBe(4408);
    expect(idleClosed.reason).toMatch(/^idle_timeout: /);

    const busyClosed = await busyEnded;
    expect(busyClosed.code).toBe(4408);
    expect(busyClosed.reason).toMatch(/^lifetime_exceeded: /);
    // Output kept it alive past the idle timeout, until the lifetime ended it.
    expect(busyClosed.livedMs).toBeGreaterThan(2 * wsIdleTimeoutMs);
    expect(busy.stdout()).toMatch(/^(tick\n)+$/);

    const big = await openExec(execWs(r, 'claim-a'));
    big.ws.send(JSON.stringify({ type: 'start', command: ['cat'], stdin: true }));
    big.ws.send(randomBytes(4096));
    expect((await big.closed).code).toBe(1009);
  });

  test('concurrent streams per caller: 429 with Retry-After', async () => {
    const r = await router({ lookup, agentPorts: ports(), limits: { maxStreamsPerCaller: 2 } });
    const a = await openExec(execWs(r, 'claim-a'));
    const b = await openExec(execWs(r, 'claim-b'));
    await expect(openExec(execWs(r, 'claim-a'))).rejects.toMatchObject({ statusCode: 429 });
    const http = await fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/claim-a/stat`);
    expect(http.status).toBe(429);
    expect(http.headers.get('retry-after')).toBe('1');
    expect(await errorCode(http)).toBe('too_many_streams');
    a.ws.close();
    await a.closed;
    b.ws.close();
    await b.closed;
    // Slots come back when sessions end.
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${r.url}/v1/namespaces/${ns}/sandboxes/claim-a/stat`);
      if (res.status === 200) return;
      await res.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('slots were not released');
  });

  test('shutdown drains: new requests get shutting_down, open sessions are closed 1001', async () => {
    const r = await startRouter({ lookup, agentPorts: ports(), limits: { shutdownGraceMs: 200 } });
    const s = await openExec(execWs(r, 'claim-a'));
    s.ws.send(JSON.stringify({ type: 'start', shell: 'sleep 30' }));
    await s.waitForText((f) => f['type'] === 'started');
    const closing = r.close();
    const closed = await s.closed;
    expect(closed.code).toBe(1001);
    expect(closed.reason).toMatch(/^shutting_down: /);
    await closing;
  });
});
