/**
 * The legacy calls exactly as upstream's Python SDK 1.0.8 makes them, against real agents:
 * `X-Sandbox-Pod-IP` on every call (a hint, compared and counted, never dialled), `GET /list/`
 * for `list(".")` (urllib3 removes the dot segment), `%2F` inside one path segment, relative
 * multipart filenames, `POST /execute` with `timeout_seconds`, a fractional `X-Sandbox-Timeout`.
 *
 * Two credentialed "pods" in two namespaces, each with a marker file naming it; the caller's token
 * covers only the first namespace.
 */
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { SANDBOX_KIND } from '@sandbank/api';
import {
  kubernetesAuthenticator,
  namespaceScope,
  resolveSandbox,
  tokenAuthenticator,
} from '../../src/index.js';
import type { AccessReviewer, SandboxLookup } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

jest.setTimeout(120_000);

const TOKEN = 'sdk-compat-token-of-team-a';
const A_IP = '127.0.0.81';
const B_IP = '127.0.0.82';
let a: TestAgent;
let b: TestAgent;
let router: TestRouter;

beforeAll(async () => {
  a = await startAgent({ ip: A_IP, grpcPort: 0, credential: { namespace: 'team-a' } });
  // Same ports on another address, as every pod has its own IP.
  b = await startAgent({
    ip: B_IP,
    grpcPort: a.grpcPort,
    restPort: a.restPort,
    credential: { namespace: 'team-b' },
  });
  await writeFile(join(a.dir, 'marker'), 'pod A');
  await writeFile(join(b.dir, 'marker'), 'pod B');
  router = await startRouter({
    lookup: staticLookup([
      { namespace: 'team-a', name: 'sandbox-a', ip: A_IP, annotation: a.annotation },
      { namespace: 'team-b', name: 'sandbox-b', ip: B_IP, annotation: b.annotation },
    ]),
    auth: tokenAuthenticator({ alice: { token: TOKEN, namespaces: namespaceScope(['team-a']) } }),
    // X-Sandbox-Port 8888 (the SDK's) means the agent, reached through gRPC; nothing listens on
    // the pods' 8888, so a call that is not translated (proxied to the port) fails visibly.
    agentPorts: { grpcPort: a.grpcPort, legacyPort: 8888 },
  });
});

afterAll(async () => {
  await router?.close();
  await a?.close();
  await b?.close();
});

/** The headers the SDK sends in tunnel mode, plus the token this router wants. */
const sdk = (extra: Record<string, string> = {}): Record<string, string> => ({
  authorization: `Bearer ${TOKEN}`,
  'x-sandbox-id': 'sandbox-a',
  'x-sandbox-namespace': 'team-a',
  'x-sandbox-port': '8888',
  'x-sandbox-timeout': '60',
  ...extra,
});

async function execute(
  headers: Record<string, string>,
  body: Record<string, unknown>,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${router.url}/execute`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function hintCount(result: string): Promise<number> {
  const metric = await router.app.metrics.registry
    .getSingleMetric('sandbank_router_pod_ip_hint_total')
    ?.get();
  return metric?.values.find((v) => v.labels['result'] === result)?.value ?? 0;
}

describe('X-Sandbox-Pod-IP is a hint, never a dial target', () => {
  test.each([
    ['the resolved pod', A_IP, 'match'],
    ["another namespace's pod", B_IP, 'mismatch'],
    ["the router's own loopback", '127.0.0.1', 'mismatch'],
    ['the metadata server', '169.254.169.254', 'mismatch'],
    ['an IPv6 address', '::1', 'mismatch'],
    ['not an address', 'pod-b.team-b', 'invalid'],
    ['a list', `${A_IP}, ${B_IP}`, 'invalid'],
    ['a zone', 'fe80::1%eth0', 'invalid'],
  ])('naming %s, the call still runs on the resolved pod only', async (_what, hint, result) => {
    const before = await hintCount(result);
    const res = await execute(sdk({ 'x-sandbox-pod-ip': hint }), { command: 'cat marker' });
    expect(res).toEqual({ status: 200, json: { stdout: 'pod A', stderr: '', exit_code: 0 } });
    expect(await hintCount(result)).toBe(before + 1);
  });

  test("a hint of another namespace's pod does not widen the token's scope", async () => {
    const res = await execute(
      sdk({ 'x-sandbox-id': 'sandbox-b', 'x-sandbox-namespace': 'team-b', 'x-sandbox-pod-ip': B_IP }),
      { command: 'cat marker' },
    );
    expect(res.status).toBe(403);
  });

  test('the routing headers are read once per request: the pipeline hands its parse to the handler', async () => {
    // A counting getter in place of the header, installed before express sees the request.
    let reads = 0;
    const count = (req: IncomingMessage): void => {
      const value = req.headers['x-sandbox-pod-ip'];
      Object.defineProperty(req.headers, 'x-sandbox-pod-ip', {
        configurable: true,
        enumerable: true,
        get: () => {
          reads += 1;
          return value;
        },
      });
    };
    router.app.server.prependListener('request', count);
    try {
      const res = await execute(sdk({ 'x-sandbox-pod-ip': A_IP }), { command: 'cat marker' });
      expect(res.status).toBe(200);
    } finally {
      router.app.server.off('request', count);
    }
    expect(reads).toBe(1);
  });

  test('every legacy route takes the hint', async () => {
    const headers = sdk({ 'x-sandbox-pod-ip': B_IP });
    const down = await fetch(`${router.url}/download/marker`, { headers });
    expect([down.status, await down.text()]).toEqual([200, 'pod A']);
    const exists = await fetch(`${router.url}/exists/marker`, { headers });
    expect(await exists.json()).toEqual({ path: 'marker', exists: true });
  });
});

describe('paths as the SDK encodes them', () => {
  test('list(".") arrives as GET /list/ and lists the workspace root', async () => {
    const res = await fetch(`${router.url}/list/`, { headers: sdk() });
    expect(res.status).toBe(200);
    const names = ((await res.json()) as { name: string }[]).map((e) => e.name);
    expect(names).toContain('marker');
  });

  test('a relative upload filename creates its parent directories under the workspace', async () => {
    const form = new FormData();
    form.append('file', new Blob(['nested']), 'd/e/x.txt');
    const up = await fetch(`${router.url}/upload`, { method: 'POST', headers: sdk(), body: form });
    expect(up.status).toBe(200);
    expect(await readFile(join(a.dir, 'd/e/x.txt'), 'utf8')).toBe('nested');
  });

  test('%2F inside one segment reaches the nested file in download, list and exists', async () => {
    await fetch(`${router.url}/upload`, {
      method: 'POST',
      headers: sdk(),
      body: (() => {
        const f = new FormData();
        f.append('file', new Blob(['deep']), 'p/q/r.txt');
        return f;
      })(),
    });
    const down = await fetch(`${router.url}/download/p%2Fq%2Fr.txt`, { headers: sdk() });
    expect([down.status, await down.text()]).toEqual([200, 'deep']);
    const list = await fetch(`${router.url}/list/p%2Fq`, { headers: sdk() });
    expect(((await list.json()) as { name: string }[]).map((e) => e.name)).toEqual(['r.txt']);
    const exists = await fetch(`${router.url}/exists/p%2Fq%2Fr.txt`, { headers: sdk() });
    expect(await exists.json()).toEqual({ path: 'p/q/r.txt', exists: true });
  });

  test('an upload filename that climbs out of the workspace is refused and writes nothing', async () => {
    const form = new FormData();
    form.append('file', new Blob(['escape']), '../escaped-sdk-compat.txt');
    const up = await fetch(`${router.url}/upload`, { method: 'POST', headers: sdk(), body: form });
    expect(up.status).toBe(403);
    expect(existsSync(join(a.dir, '..', 'escaped-sdk-compat.txt'))).toBe(false);
  });
});

describe('POST /execute as the SDK sends it', () => {
  test('timeout_seconds bounds the command and the answer says timed_out', async () => {
    const started = Date.now();
    const res = await execute(sdk({ 'x-sandbox-timeout': '30.5' }), {
      command: 'sleep 20',
      timeout_seconds: 0.5,
    });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ timed_out: true, exit_code: 124 });
    expect(res.json['stderr']).toBe('Command timed out after 0.5 seconds');
  });

  test('a command within timeout_seconds answers timed_out false', async () => {
    const res = await execute(sdk(), { command: 'echo in-time', timeout_seconds: 30 });
    expect(res).toEqual({
      status: 200,
      json: { stdout: 'in-time\n', stderr: '', exit_code: 0, timed_out: false },
    });
  });

  test('a timeout_seconds that is not a positive number is a 400 naming the field', async () => {
    const res = await execute(sdk(), { command: 'true', timeout_seconds: -1 });
    expect(res.status).toBe(400);
    expect(String(res.json['detail'])).toMatch(/timeout_seconds/);
  });
});

describe("X-Sandbox-ID is the Sandbox's name; kubernetes mode asks about the claim that owns it", () => {
  /** Upstream's warm Sandboxes are named like their pool's pod, not like their claim. */
  const sandboxes: { name: string; claim: string; ip: string }[] = [
    { name: 'pool-x7k2p', claim: 'claim-a', ip: A_IP },
    { name: 'pool-q4w8z', claim: 'claim-b', ip: A_IP },
  ];
  const lookup: SandboxLookup = {
    resolve: (ref) =>
      resolveSandbox(
        {
          claim: (_ns, name) => {
            const s = sandboxes.find((x) => x.claim === name);
            return s && { namespace: 'team-a', name, uid: `uid-${name}` };
          },
          claimByUid: (_ns, uid) => {
            const s = sandboxes.find((x) => `uid-${x.claim}` === uid);
            return s && { namespace: 'team-a', name: s.claim, uid };
          },
          sandbox: (_ns, name) => {
            const s = sandboxes.find((x) => x.name === name);
            return (
              s && {
                namespace: 'team-a',
                name,
                uid: `uid-${name}`,
                podName: name,
                claimUid: `uid-${s.claim}`,
              }
            );
          },
          pod: (_ns, name) => {
            const s = sandboxes.find((x) => x.name === name);
            return (
              s && {
                namespace: 'team-a',
                name,
                uid: `pod-uid-${name}`,
                ip: s.ip,
                canonicalIp: s.ip,
                ready: true,
                deleting: false,
                pooled: false,
                controller: { kind: SANDBOX_KIND, uid: `uid-${name}` },
                protocol: 'grpc',
                agentCredential: a.annotation,
                declaredPorts: [],
                anyPort: false,
                lastOomKillMs: undefined,
              }
            );
          },
        },
        ref,
      ),
    hasSynced: () => true,
    oomKilledAfter: () => Promise.resolve(false),
    close: () => Promise.resolve(),
  };
  const asked: string[] = [];
  const reviewer: AccessReviewer = {
    authenticate: (token) =>
      Promise.resolve(token === 'alice' ? { username: 'alice', uid: 'u', groups: [], extra: {} } : undefined),
    authorize: (_user, attrs) => {
      asked.push(attrs.name);
      return Promise.resolve({ allowed: attrs.name === 'claim-a', reason: '' });
    },
  };
  let k8s: TestRouter;
  beforeAll(async () => {
    k8s = await startRouter({
      lookup,
      auth: kubernetesAuthenticator({ reviewer, ttlMs: 60_000 }),
      agentPorts: { grpcPort: a.grpcPort, legacyPort: 8888 },
    });
  });
  afterAll(async () => {
    await k8s?.close();
  });

  const call = (id: string) =>
    fetch(`${k8s.url}/execute`, {
      method: 'POST',
      headers: {
        ...sdk({ authorization: 'Bearer alice', 'x-sandbox-id': id }),
        'content-type': 'application/json',
      },
      body: JSON.stringify({ command: 'cat marker' }),
    });

  test('a Sandbox whose controlling claim changes after the authorization is not dialled', async () => {
    // The owner reference of a Sandbox is writable by whoever may update Sandboxes: between the
    // review (on claim-a) and the dial it now names claim-b, whose exec the caller may not create.
    const entry = { name: 'pool-flip1', claim: 'claim-a', ip: A_IP };
    sandboxes.push(entry);
    const reads = { n: 0 };
    const original = lookup.resolve.bind(lookup);
    lookup.resolve = (ref) => {
      if (ref.name === 'pool-flip1' && ++reads.n > 1) entry.claim = 'claim-b';
      return original(ref);
    };
    try {
      const res = await call('pool-flip1');
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/changed owner/);
    } finally {
      lookup.resolve = original;
    }
  });

  test("the Sandbox of the caller's claim runs; the other claim's is refused before anything is dialled", async () => {
    const mine = await call('pool-x7k2p');
    expect([mine.status, await mine.json()]).toEqual([200, { stdout: 'pod A', stderr: '', exit_code: 0 }]);
    const theirs = await call('pool-q4w8z');
    expect(theirs.status).toBe(403);
    expect(asked.slice(-2)).toEqual(['claim-a', 'claim-b']);
  });
});
