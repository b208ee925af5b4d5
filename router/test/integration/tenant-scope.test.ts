/**
 * Tenancy (#17): tenant A, whose credentials cover namespace `a` only, reaches nothing in
 * namespace `b` on any surface, in both auth modes, and cannot tell an existing claim of `b` from
 * one that does not exist; in `a` every surface works. Real router, real kube-apiserver (the
 * kubernetes mode's TokenReview and SubjectAccessReview, RBAC with the built-in `admin` role
 * aggregating `sandbank-user`), real agents (one "pod" per namespace).
 */
import { randomBytes } from 'node:crypto';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { applyManifests, integrationKubeConfig, repoRoot } from '@sandbank/e2e';
import { createAgentClient } from '@sandbank/proto';
import WebSocket, { WebSocketServer } from 'ws';
import {
  createAccessReviewer,
  createClusterLookup,
  createLogger,
  kubernetesAuthenticator,
  namespaceScope,
  tokenAuthenticator,
} from '../../src/index.js';
import type { Authenticator, SandboxLookup } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { Changes, TestCluster } from '@sandbank/testing';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { openExec } from '../helpers/ws.js';

const kc = integrationKubeConfig();
const tenantA = new TestCluster(kc, 'tenant-a');
const tenantB = new TestCluster(kc, 'tenant-b');
const nsA = tenantA.namespace;
const nsB = tenantB.namespace;
const changes = new Changes();
let agentA: TestAgent;
let agentB: TestAgent;
let lookup: SandboxLookup;
/** A web server on each sandbox's address (one port for both), declared by both Pods. */
let webA: Server;
let webB: Server;
let webPort: number;
const PREVIEW_KEYS = { signingKeyId: 'k', keys: new Map([['k', randomBytes(32)]]) };

/**
 * A sandbox's own HTTP and WebSocket server on `ip`, which marks `dir` when reached (as the
 * agent's surfaces do), so a refused call is seen to reach nothing.
 */
async function startWeb(ip: string, dir: () => string, port: number): Promise<Server> {
  const server = createServer((_req, res) => {
    writeFile(join(dir(), 'ran-port'), '').then(
      () => res.end('ok'),
      () => res.destroy(),
    );
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    writeFile(join(dir(), 'ran-port-ws'), '').then(
      () => ws.close(),
      () => ws.terminate(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve());
  });
  return server;
}

/** What each namespace's sandbox holds before a round: a secret to read, a file to delete. */
const SEEDS = ['doomed.txt', 'secret.txt'];
async function seed(agent: TestAgent, ns: string): Promise<void> {
  for (const entry of await readdir(agent.dir)) await rm(join(agent.dir, entry), { recursive: true });
  await writeFile(join(agent.dir, 'secret.txt'), `the secret of ${ns}`);
  await writeFile(join(agent.dir, 'doomed.txt'), 'delete me');
}
const contents = async (agent: TestAgent): Promise<string[]> => (await readdir(agent.dir)).sort();

beforeAll(async () => {
  await tenantA.setUp();
  await tenantB.setUp();
  agentA = await startAgent({ ip: '127.0.0.81', grpcPort: 0 });
  // Every pod serves on the same ports (the router has one agent port setting).
  agentB = await startAgent({ ip: '127.0.0.82', grpcPort: agentA.grpcPort, restPort: agentA.restPort });
  webA = await startWeb(agentA.ip, () => agentA.dir, 0);
  webPort = (webA.address() as AddressInfo).port;
  webB = await startWeb(agentB.ip, () => agentB.dir, webPort);
  lookup = createClusterLookup({
    kc,
    namespaces: [nsA, nsB],
    log: createLogger('silent'),
    onChange: changes.notify,
  });
  await tenantA.bindSandbox('claim-a', agentA.ip, {}, undefined, [webPort]);
  await tenantB.bindSandbox('claim-b', agentB.ip, {}, undefined, [webPort]);
  await changes.routable(lookup, { namespace: nsA, name: 'claim-a' });
  await changes.routable(lookup, { namespace: nsB, name: 'claim-b' });
});

afterAll(async () => {
  await lookup?.close();
  await agentA?.close();
  await agentB?.close();
  await new Promise((resolve) => webA?.close(resolve));
  await new Promise((resolve) => webB?.close(resolve));
  await tenantA.tearDown();
  await tenantB.tearDown();
});

/** How a call ended: an HTTP status (101 for an accepted upgrade) or a gRPC code, and the body. */
interface Outcome {
  readonly status: number | `grpc ${number}`;
  readonly body: string;
}

interface Surface {
  readonly name: string;
  /** What the call gives in the caller's own namespace. */
  readonly allowed: Outcome['status'];
  readonly call: (r: TestRouter, bearer: string, ns: string, claim: string) => Promise<Outcome>;
}

const http = async (res: Response): Promise<Outcome> => ({ status: res.status, body: await res.text() });
const v1 = (r: TestRouter, ns: string, claim: string, rest: string): string =>
  `${r.url}/v1/namespaces/${ns}/sandboxes/${claim}/${rest}`;
const auth = (bearer: string): Record<string, string> => ({ authorization: `Bearer ${bearer}` });
const legacy = (bearer: string, ns: string, claim: string): Record<string, string> => ({
  ...auth(bearer),
  'x-sandbox-id': claim,
  'x-sandbox-namespace': ns,
});
function grpc(
  r: TestRouter,
  bearer: string,
  ns: string,
  claim: string,
  call: (
    client: ReturnType<typeof createAgentClient>,
    md: Metadata,
    done: (e: ServiceError | null) => void,
  ) => void,
): Promise<Outcome> {
  const client = createAgentClient(r.grpcAddress, credentials.createInsecure());
  const md = new Metadata();
  md.set('authorization', `Bearer ${bearer}`);
  md.set('x-sandbox-id', claim);
  md.set('x-sandbox-namespace', ns);
  return new Promise<Outcome>((resolve) =>
    call(client, md, (e) => {
      client.close();
      resolve({ status: `grpc ${e?.code ?? 0}`, body: e?.details ?? '' });
    }),
  );
}

/**
 * Every way into a sandbox. The ones that change something leave a mark in the workspace
 * (`ran-*`, `written-*`, `made-*`, doomed.txt gone), so a refused call is also seen to do nothing.
 */
const SURFACES: readonly Surface[] = [
  {
    name: 'v1 exec',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(
        await fetch(v1(r, ns, claim, 'exec'), {
          method: 'POST',
          headers: auth(bearer),
          body: JSON.stringify({ shell: 'touch ran-v1 && cat secret.txt' }),
        }),
      ),
  },
  {
    name: 'v1 file read',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(v1(r, ns, claim, 'files/secret.txt'), { headers: auth(bearer) })),
  },
  {
    name: 'v1 file write',
    allowed: 201,
    call: async (r, bearer, ns, claim) =>
      http(
        await fetch(v1(r, ns, claim, 'files/written-v1.txt'), {
          method: 'PUT',
          headers: auth(bearer),
          body: 'planted',
        }),
      ),
  },
  {
    name: 'v1 file delete',
    allowed: 204,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(v1(r, ns, claim, 'files/doomed.txt'), { method: 'DELETE', headers: auth(bearer) })),
  },
  {
    name: 'v1 mkdir',
    allowed: 201,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(v1(r, ns, claim, 'mkdir?path=made-v1'), { method: 'POST', headers: auth(bearer) })),
  },
  {
    name: 'v1 list',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(v1(r, ns, claim, 'list?path=.'), { headers: auth(bearer) })),
  },
  {
    name: 'v1 stat (does the claim resolve?)',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(v1(r, ns, claim, 'stat?path=secret.txt'), { headers: auth(bearer) })),
  },
  {
    name: 'legacy /execute',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(
        await fetch(`${r.url}/execute`, {
          method: 'POST',
          headers: legacy(bearer, ns, claim),
          body: JSON.stringify({ command: 'touch ran-legacy' }),
        }),
      ),
  },
  {
    name: 'legacy /upload',
    allowed: 200,
    call: async (r, bearer, ns, claim) => {
      const form = new FormData();
      form.append('file', new Blob(['planted']), 'written-legacy.txt');
      return http(
        await fetch(`${r.url}/upload`, { method: 'POST', headers: legacy(bearer, ns, claim), body: form }),
      );
    },
  },
  {
    name: 'legacy /download',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(`${r.url}/download/secret.txt`, { headers: legacy(bearer, ns, claim) })),
  },
  {
    name: 'legacy /list',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(`${r.url}/list/.`, { headers: legacy(bearer, ns, claim) })),
  },
  {
    name: 'legacy /exists (does the claim resolve?)',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(`${r.url}/exists/secret.txt`, { headers: legacy(bearer, ns, claim) })),
  },
  {
    name: 'legacy passthrough to a pod port',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(`${r.url}/`, { headers: legacy(bearer, ns, claim) })),
  },
  {
    name: 'WebSocket exec',
    allowed: 101,
    call: async (r, bearer, ns, claim) => {
      const url = `${r.wsUrl}/v1/namespaces/${ns}/sandboxes/${claim}/exec`;
      try {
        const session = await openExec(url, auth(bearer));
        session.ws.send(JSON.stringify({ type: 'start', shell: 'touch ran-ws' }));
        await session.waitForText((f) => f['type'] === 'exit');
        session.ws.close();
        await session.closed;
        return { status: 101, body: '' };
      } catch (error) {
        const status = (error as { statusCode?: unknown }).statusCode;
        if (typeof status !== 'number') throw error;
        return { status, body: '' };
      }
    },
  },
  {
    name: 'port route (HTTP)',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(
        await fetch(`${r.url}/v1/namespaces/${ns}/sandboxclaims/${claim}/ports/${webPort}/`, {
          headers: auth(bearer),
        }),
      ),
  },
  {
    name: 'port route (WebSocket)',
    allowed: 101,
    call: async (r, bearer, ns, claim) => {
      const ws = new WebSocket(`${r.wsUrl}/v1/namespaces/${ns}/sandboxclaims/${claim}/ports/${webPort}/`, {
        headers: auth(bearer),
      });
      return new Promise<Outcome>((resolve, reject) => {
        ws.once('open', () => ws.once('close', () => resolve({ status: 101, body: '' })));
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        ws.once('error', reject);
      });
    },
  },
  {
    name: 'preview link (made, then opened)',
    allowed: 200,
    call: async (r, bearer, ns, claim) => {
      const made = await fetch(`${r.url}/v1/namespaces/${ns}/sandboxclaims/${claim}/previews`, {
        method: 'POST',
        headers: { ...auth(bearer), 'content-type': 'application/json' },
        body: JSON.stringify({ port: webPort }),
      });
      if (made.status !== 201) return http(made);
      const { url } = (await made.json()) as { url: string };
      return http(await fetch(`${r.url}${url}`));
    },
  },
  {
    name: 'gRPC passthrough Run',
    allowed: 'grpc 0',
    call: (r, bearer, ns, claim) =>
      grpc(r, bearer, ns, claim, (client, md, done) =>
        client.run({ process: { command: { case: 'shell', value: 'touch ran-grpc' } } }, md, (e) => done(e)),
      ),
  },
  {
    name: 'v1 background process (start, wait, attach)',
    allowed: 201,
    call: async (r, bearer, ns, claim) => {
      const headers = { ...auth(bearer), 'content-type': 'application/json' };
      const started = await fetch(v1(r, ns, claim, 'processes'), {
        method: 'POST',
        headers,
        body: JSON.stringify({ shell: 'touch ran-process && cat secret.txt' }),
      });
      if (started.status !== 201) return http(started);
      const { id } = (await started.json()) as { id: string };
      for (;;) {
        const waited = await fetch(v1(r, ns, claim, `processes/${id}/wait`), {
          method: 'POST',
          headers,
          body: JSON.stringify({ timeoutMs: 10_000 }),
        });
        if (((await waited.json()) as { state: string }).state === 'exited') break;
      }
      const attached = await fetch(v1(r, ns, claim, `processes/${id}/attach`), { headers: auth(bearer) });
      return { status: 201, body: Buffer.from(await attached.arrayBuffer()).toString('latin1') };
    },
  },
  {
    name: 'v1 processes list',
    allowed: 200,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(v1(r, ns, claim, 'processes'), { headers: auth(bearer) })),
  },
  {
    name: 'v1 process attach (does the claim resolve? the agent knows no such process)',
    allowed: 404,
    call: async (r, bearer, ns, claim) =>
      http(await fetch(v1(r, ns, claim, 'processes/p-1/attach?follow=true'), { headers: auth(bearer) })),
  },
  {
    name: 'gRPC passthrough ListProcesses',
    allowed: 'grpc 0',
    call: (r, bearer, ns, claim) =>
      grpc(r, bearer, ns, claim, (client, md, done) => client.listProcesses({}, md, (e) => done(e))),
  },
  {
    name: 'gRPC passthrough Stat',
    allowed: 'grpc 0',
    call: (r, bearer, ns, claim) =>
      grpc(r, bearer, ns, claim, (client, md, done) =>
        client.stat({ path: 'secret.txt' }, md, (e) => done(e)),
      ),
  },
];

/** What a successful round leaves in a workspace (and a refused one must not). */
const MARKS = [
  'made-v1',
  'ran-grpc',
  'ran-legacy',
  'ran-port',
  'ran-port-ws',
  'ran-process',
  'ran-v1',
  'ran-ws',
  'secret.txt',
  'written-legacy.txt',
  'written-v1.txt',
];

/** Tenant A's credentials in each auth mode: scoped to namespace `a`. */
interface Tenancy {
  readonly mode: string;
  readonly setUp: () => Promise<{ auth: Authenticator; bearer: string }>;
}

const MODES: readonly Tenancy[] = [
  {
    mode: 'token: a token scoped to namespace a',
    setUp: () => {
      const bearer = randomBytes(24).toString('base64url');
      const other = randomBytes(24).toString('base64url');
      return Promise.resolve({
        auth: tokenAuthenticator({
          'tenant-a': { token: bearer, namespaces: namespaceScope([nsA]) },
          'tenant-b': { token: other, namespaces: namespaceScope([nsB]) },
        }),
        bearer,
      });
    },
  },
  {
    mode: 'kubernetes: a ServiceAccount with admin (RoleBinding) in namespace a',
    setUp: async () => {
      const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
      // The shipped roles: `admin` includes sandbank-user (create sandboxclaims/exec) by aggregation.
      await applyManifests(process.env['SANDBANK_KUBECONFIG'] ?? '', [
        join(repoRoot, 'manifests/base/user-roles.yaml'),
      ]);
      await tenantA.core.createNamespacedServiceAccount({
        namespace: nsA,
        body: { metadata: { name: 'tenant-a' } },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: nsA,
        body: {
          metadata: { name: 'tenant-a-admin' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
          subjects: [{ kind: 'ServiceAccount', name: 'tenant-a', namespace: nsA }],
        },
      });
      const tr = await tenantA.core.createNamespacedServiceAccountToken({
        name: 'tenant-a',
        namespace: nsA,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      });
      const bearer = tr.status?.token ?? '';
      expect(bearer).not.toBe('');
      const reviewer = createAccessReviewer(kc);
      const user = {
        username: `system:serviceaccount:${nsA}:tenant-a`,
        uid: undefined,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${nsA}`, 'system:authenticated'],
        extra: {},
      };
      // The aggregation controller and the RBAC authorizer's informer lag behind the writes.
      const exec = {
        verb: 'create',
        group: 'extensions.agents.x-k8s.io',
        resource: 'sandboxclaims',
        subresource: 'exec',
      };
      for (let i = 0; ; i++) {
        if ((await reviewer.authorize(user, { ...exec, namespace: nsA, name: 'claim-a' })).allowed) break;
        if (i === 400) throw new Error('admin never got create sandboxclaims/exec');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return { auth: kubernetesAuthenticator({ reviewer, ttlMs: 10_000 }), bearer };
    },
  },
];

/** The outcome with the claim's name masked: what may differ between two names is only the name. */
const masked = (o: Outcome, claim: string): Outcome => ({ ...o, body: o.body.split(claim).join('<claim>') });

describe.each(MODES)('tenant A ($mode)', ({ setUp }) => {
  let r: TestRouter;
  let bearer: string;

  beforeAll(async () => {
    const tenant = await setUp();
    bearer = tenant.bearer;
    r = await startRouter({
      lookup,
      auth: tenant.auth,
      agentPorts: { grpcPort: agentA.grpcPort, legacyPort: agentA.restPort },
      previews: { keys: PREVIEW_KEYS },
    });
  }, 120_000);

  afterAll(async () => {
    await r?.close();
  });

  test('reaches nothing in namespace b on any surface, and b cannot be probed for claims; in a every surface works', async () => {
    await seed(agentA, nsA);
    await seed(agentB, nsB);
    const inB: Record<string, { existing: Outcome; missing: Outcome }> = {};
    for (const s of SURFACES) {
      const existing = await s.call(r, bearer, nsB, 'claim-b');
      const missing = await s.call(r, bearer, nsB, 'no-such-claim');
      inB[s.name] = { existing: masked(existing, 'claim-b'), missing: masked(missing, 'no-such-claim') };
    }
    const inA: Record<string, Outcome['status']> = {};
    for (const s of SURFACES) inA[s.name] = (await s.call(r, bearer, nsA, 'claim-a')).status;

    // Refused on every surface (403, gRPC PERMISSION_DENIED), the same way for a claim that exists
    // and for one that does not (no oracle), and nothing of b's sandbox in the answer.
    const refused = (s: Surface): Outcome['status'] => (typeof s.allowed === 'number' ? 403 : 'grpc 7');
    expect(Object.fromEntries(SURFACES.map((s) => [s.name, inB[s.name]?.existing.status]))).toEqual(
      Object.fromEntries(SURFACES.map((s) => [s.name, refused(s)])),
    );
    for (const s of SURFACES) {
      expect({ surface: s.name, ...inB[s.name]?.existing }).toEqual({
        surface: s.name,
        ...inB[s.name]?.missing,
      });
      expect(inB[s.name]?.existing.body).not.toMatch(/secret of/);
    }
    // Nothing ran, was written, made or deleted in b's sandbox.
    expect(await contents(agentB)).toEqual(SEEDS);
    // In its own namespace, every surface works, and leaves its marks.
    expect(inA).toEqual(Object.fromEntries(SURFACES.map((s) => [s.name, s.allowed])));
    expect(await contents(agentA)).toEqual(MARKS);
  });
});
