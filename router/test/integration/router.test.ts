/**
 * The router against the real API server (resolution through real watches) and real agents on
 * loopback addresses: one "pod" with a Sandbank agent (127.0.0.2, gRPC + legacy REST) and one
 * without (127.0.0.3, legacy REST only, as upstream's python-runtime image).
 */
import { createHash, randomBytes } from 'node:crypto';
import { credentials, Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { integrationKubeConfig } from '@sandbank/e2e';
import { Labels, nameHash } from '@sandbank/api';
import { createAgentClient } from '@sandbank/proto';
import type { RunResponse } from '@sandbank/proto';
import { createClusterLookup, createLogger } from '../../src/index.js';
import type { SandboxLookup } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { Changes, TestCluster } from '@sandbank/testing';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { openExec } from '../helpers/ws.js';

const kc = integrationKubeConfig();
const cluster = new TestCluster(kc, 'router-it');
const ns = cluster.namespace;
const changes = new Changes();
let httpOnly: TestAgent;
let agent: TestAgent;
let lookup: SandboxLookup;
let router: TestRouter;

const legacy = (id: string, extra: Record<string, string> = {}): Record<string, string> => ({
  'x-sandbox-id': id,
  'x-sandbox-namespace': ns,
  'x-sandbox-port': String(agent.restPort),
  ...extra,
});
const v1 = (name: string, rest: string): string =>
  `${router.url}/v1/namespaces/${ns}/sandboxes/${name}/${rest}`;

beforeAll(async () => {
  await cluster.setUp();
  httpOnly = await startAgent({ ip: '127.0.0.3' });
  agent = await startAgent({ ip: '127.0.0.2', grpcPort: 0, restPort: httpOnly.restPort });
  lookup = createClusterLookup({
    kc,
    namespaces: [ns],
    log: createLogger('silent'),
    onChange: changes.notify,
  });
  router = await startRouter({
    lookup,
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
  });

  await cluster.bindSandbox('sb-grpc', '127.0.0.2');
  await cluster.bindSandbox('sb-http', '127.0.0.3');
  // A warm pool pod (pool label, unclaimed) that a Sandbox annotation points at: never routable.
  await cluster.createPod('warm-1', { [Labels.pool]: 'abc', [Labels.sandboxNameHash]: nameHash('sb-warm') });
  await cluster.setPodStatus('warm-1', '127.0.0.2', true);
  await cluster.createSandbox('sb-warm', { podName: 'warm-1' });
  await cluster.createClaim('sb-pending');
  await changes.routable(lookup, { namespace: ns, name: 'sb-grpc' });
  await changes.routable(lookup, { namespace: ns, name: 'sb-http' });
  await changes.until(
    () => lookup.resolve({ namespace: ns, name: 'sb-warm' }).kind !== 'not_found',
    'sb-warm seen',
  );
});

afterAll(async () => {
  await router?.close();
  await lookup?.close();
  await agent?.close();
  await httpOnly?.close();
  await cluster.tearDown();
});

describe('resolution through watches', () => {
  test('a bound, Ready pod is routable; unknown names are 404; a claim without a Sandbox is 503', async () => {
    const ok = await fetch(`${router.url}/execute`, {
      method: 'POST',
      headers: { ...legacy('sb-grpc'), 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'echo routed' }),
    });
    expect(await ok.json()).toEqual({ stdout: 'routed\n', stderr: '', exit_code: 0 });
    const missing = await fetch(`${router.url}/exists/x`, { headers: legacy('nope') });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ detail: `no sandbox named nope in namespace ${ns}` });
    const pending = await fetch(`${router.url}/exists/x`, { headers: legacy('sb-pending') });
    expect(pending.status).toBe(503);
    expect(pending.headers.get('retry-after')).toBe('1');
  });

  test('an unclaimed warm pod is never routable, even when a Sandbox names it', async () => {
    expect(lookup.resolve({ namespace: ns, name: 'sb-warm' }).kind).toBe('not_ready');
    const res = await fetch(`${router.url}/exists/x`, { headers: legacy('sb-warm') });
    expect(res.status).toBe(503);
    const v1res = await fetch(v1('sb-warm', 'stat'));
    expect(v1res.status).toBe(503);
  });

  test('readiness follows the pod through the watch', async () => {
    await cluster.setPodStatus('sb-grpc-pod', '127.0.0.2', false);
    await changes.routable(lookup, { namespace: ns, name: 'sb-grpc' }, 'not_ready');
    expect((await fetch(v1('sb-grpc', 'stat'))).status).toBe(503);
    await cluster.setPodStatus('sb-grpc-pod', '127.0.0.2', true);
    await changes.routable(lookup, { namespace: ns, name: 'sb-grpc' });
    expect((await fetch(v1('sb-grpc', 'stat'))).status).toBe(200);
  });

  test('a pod IP that does not answer is a 502 after the dial retries, and recovers when the pod moves', async () => {
    await cluster.bindSandbox('sb-moving', '127.0.0.9');
    await changes.routable(lookup, { namespace: ns, name: 'sb-moving' });
    const dead = await fetch(v1('sb-moving', 'stat'));
    expect(dead.status).toBe(502);
    expect(((await dead.json()) as { error: { code: string } }).error.code).toBe('upstream_unavailable');
    await cluster.setPodStatus('sb-moving-pod', '127.0.0.2', true);
    await changes.until(() => {
      const r = lookup.resolve({ namespace: ns, name: 'sb-moving' });
      return r.kind === 'ready' && r.endpoint.ip === '127.0.0.2';
    }, 'sb-moving at 127.0.0.2');
    expect((await fetch(v1('sb-moving', 'stat'))).status).toBe(200);
  });

  test("an OOMKilled termination the kubelet writes to the Pod's status reaches a wait on the lookup", async () => {
    const { podName } = await cluster.bindSandbox('sb-oom', '127.0.0.2');
    await changes.routable(lookup, { namespace: ns, name: 'sb-oom' });
    const resolved = lookup.resolve({ namespace: ns, name: 'sb-oom' });
    if (resolved.kind !== 'ready') throw new Error(`sb-oom is ${resolved.kind}`);
    const { endpoint } = resolved;
    expect(endpoint.lastOomKillMs).toBeUndefined();
    const pod = { namespace: ns, name: podName, uid: endpoint.podUid };
    const signal = new AbortController().signal;
    const waiting = lookup.oomKilledAfter(pod, endpoint.lastOomKillMs, 30_000, signal);
    const finishedAt = new Date('2026-12-07T10:00:00Z');
    await cluster.setPodStatus(podName, '127.0.0.2', false, [
      {
        name: 'agent',
        image: 'sandbank/agent:test',
        imageID: '',
        ready: false,
        restartCount: 1,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
        lastState: { terminated: { reason: 'OOMKilled', exitCode: 137, finishedAt } },
      },
    ]);
    await expect(waiting).resolves.toBe(true);
    // A kill no newer than the one known at routing explains nothing.
    await expect(lookup.oomKilledAfter(pod, finishedAt.getTime(), 0, signal)).resolves.toBe(false);
  });
});

describe('legacy contract', () => {
  /** The same request to the router (translated to gRPC) and straight to the agent's REST API. */
  async function both(path: string, init: RequestInit = {}): Promise<[Response, Response]> {
    const headers = { ...legacy('sb-grpc'), ...(init.headers as Record<string, string> | undefined) };
    const a = await fetch(`${router.url}${path}`, { ...init, headers });
    const b = await fetch(`${agent.restUrl}${path}`, { ...init, headers });
    return [a, b];
  }
  async function expectSameBytes(path: string, init: RequestInit = {}): Promise<Buffer> {
    const [a, b] = await both(path, init);
    const [ab, bb] = [Buffer.from(await a.arrayBuffer()), Buffer.from(await b.arrayBuffer())];
    expect({ status: a.status, body: ab.toString('utf8') }).toEqual({
      status: b.status,
      body: bb.toString('utf8'),
    });
    expect(ab.equals(bb)).toBe(true);
    return ab;
  }

  test.each([
    ['echo hello world'],
    ["printf 'a\\r\\nb\\rc'"],
    ['sh -c "echo out; echo err >&2; exit 7"'],
    ['sh -c "kill -TERM $$"'],
    ['no-such-program --flag'],
    ['echo "unterminated'],
    [''],
    ['printf "\\xe2\\x82\\xac \\x01 \\""'],
  ])('POST /execute %j answers the python-runtime bytes', async (command) => {
    await expectSameBytes('/execute', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command }),
    });
  });

  test('upload, download, list and exists answer the python-runtime bytes', async () => {
    const content = randomBytes(300_000);
    const form = (): FormData => {
      const f = new FormData();
      f.append('file', new Blob([content]), 'dir one/data.bin');
      return f;
    };
    const up = await fetch(`${router.url}/upload`, {
      method: 'POST',
      headers: legacy('sb-grpc'),
      body: form(),
    });
    expect(up.status).toBe(200);
    expect(await up.text()).toBe(`{"message":"File 'dir one/data.bin' uploaded successfully."}`);
    const down = await expectSameBytes(`/download/${encodeURIComponent('dir one/data.bin')}`);
    expect(down.equals(content)).toBe(true);
    const [a, b] = await both(`/download/${encodeURIComponent('dir one/data.bin')}`);
    for (const h of [
      'content-type',
      'content-length',
      'content-disposition',
      'etag',
      'last-modified',
      'accept-ranges',
    ]) {
      expect([h, a.headers.get(h)]).toEqual([h, b.headers.get(h)]);
    }
    await a.arrayBuffer();
    await b.arrayBuffer();
    await expectSameBytes(`/list/${encodeURIComponent('dir one')}`);
    await expectSameBytes(`/list/${encodeURIComponent('dir one/data.bin')}`);
    await expectSameBytes(`/exists/${encodeURIComponent('dir one/data.bin')}`);
    await expectSameBytes(`/exists/${encodeURIComponent('nothing here')}`);
    await expectSameBytes(`/download/${encodeURIComponent('nothing here')}`);
    await expectSameBytes(`/download/${encodeURIComponent('../../etc/passwd')}`);
    await expectSameBytes(`/list/${encodeURIComponent('/../..')}`);
  });

  test('router errors are {"detail": …} with 400 for bad headers', async () => {
    const none = await fetch(`${router.url}/execute`, { method: 'POST', body: '{}' });
    expect(none.status).toBe(400);
    expect(await none.json()).toEqual({
      detail: 'X-Sandbox-ID: header is required (the sandbox claim name)',
    });
    const bad = await fetch(`${router.url}/execute`, {
      method: 'POST',
      headers: legacy('Bad_Name'),
      body: '{}',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toMatch(/^X-Sandbox-ID: /);
    const port = await fetch(`${router.url}/execute`, {
      method: 'POST',
      headers: legacy('sb-grpc', { 'x-sandbox-port': '99999' }),
    });
    expect(port.status).toBe(400);
    expect(await fetch(`${router.url}/healthz`).then((r) => r.text())).toBe('{"status":"ok"}');
  });

  test('a pod without a Sandbank agent is proxied as plain HTTP, streaming', async () => {
    const headers = legacy('sb-http', {
      'content-type': 'application/json',
      authorization: 'Bearer secret-for-router',
    });
    const res = await fetch(`${router.url}/execute`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ command: 'echo via-http' }),
    });
    expect(await res.text()).toBe('{"stdout":"via-http\\n","stderr":"","exit_code":0}');
    const big = randomBytes(5 * 1024 * 1024);
    const form = new FormData();
    form.append('file', new Blob([big]), 'big.bin');
    const up = await fetch(`${router.url}/upload`, {
      method: 'POST',
      headers: legacy('sb-http'),
      body: form,
    });
    expect(up.status).toBe(200);
    const down = Buffer.from(
      await (await fetch(`${router.url}/download/big.bin`, { headers: legacy('sb-http') })).arrayBuffer(),
    );
    expect(down.equals(big)).toBe(true);
    // Paths the translation does not know are proxied too, with the runtime's own answer.
    const other = await fetch(`${router.url}/`, { headers: legacy('sb-http') });
    expect(await other.json()).toEqual({ status: 'ok', message: 'Sandbox Runtime is active.' });
    // The runtime redirects `/list` to `/list/` with its own address; the client gets the path.
    const redirect = await fetch(`${router.url}/list`, { headers: legacy('sb-http'), redirect: 'manual' });
    expect(redirect.status).toBe(307);
    expect(redirect.headers.get('location')).toBe('/list/');
  });
});

describe('Sandbank API', () => {
  test('exec returns exit, timeout and truncation flags', async () => {
    const post = (body: unknown): Promise<Response> =>
      fetch(v1('sb-grpc', 'exec'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const r1 = (await (
      await post({ command: ['sh', '-c', 'cat; echo e >&2; exit 4'], stdin: 'in' })
    ).json()) as Record<string, unknown>;
    expect(r1).toMatchObject({ exitCode: 4, stdout: 'in', stderr: 'e\n', timedOut: false });
    const r2 = (await (await post({ shell: 'sleep 5', timeoutMs: 200 })).json()) as Record<string, unknown>;
    expect(r2).toMatchObject({ timedOut: true });
    const r3 = (await (
      await post({ shell: 'head -c 5000 /dev/zero', maxOutputBytes: 100, outputEncoding: 'base64' })
    ).json()) as Record<string, unknown>;
    expect(r3).toMatchObject({ stdoutTruncated: true, encoding: 'base64' });
    expect(Buffer.from(String(r3['stdout']), 'base64').length).toBe(100);
    const bad = await post({ command: [], shell: 'x' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_argument');
  });

  test('a large file streams up and down intact; stat, list and delete', async () => {
    const size = 64 * 1024 * 1024;
    const data = randomBytes(size);
    const put = await fetch(v1('sb-grpc', 'files/big/one.bin?mode=0600'), { method: 'PUT', body: data });
    expect(put.status).toBe(201);
    expect(await put.json()).toMatchObject({
      name: 'one.bin',
      path: 'big/one.bin',
      size,
      type: 'file',
      mode: 0o600,
    });
    const get = await fetch(v1('sb-grpc', 'files/big/one.bin'));
    expect(get.headers.get('content-length')).toBe(String(size));
    const hash = createHash('sha256');
    for await (const chunk of get.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    const stat = (await (await fetch(v1('sb-grpc', 'stat?path=big/one.bin'))).json()) as Record<
      string,
      unknown
    >;
    expect(stat).toMatchObject({ size, type: 'file' });
    const list = (await (await fetch(v1('sb-grpc', 'list?path=big'))).json()) as {
      entries: { name: string }[];
    };
    expect(list.entries.map((e) => e.name)).toEqual(['one.bin']);
    expect((await fetch(v1('sb-grpc', 'files/big?recursive=false'), { method: 'DELETE' })).status).toBe(409);
    expect((await fetch(v1('sb-grpc', 'files/big?recursive=true'), { method: 'DELETE' })).status).toBe(204);
    const gone = await fetch(v1('sb-grpc', 'files/big/one.bin'));
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const escape = await fetch(v1('sb-grpc', 'files/..%2F..%2Fetc%2Fpasswd'));
    expect(escape.status).toBe(403);
  });

  test('mkdir creates a directory, with parents as mkdir -p, and names the field it rejects', async () => {
    const post = (path: string) => fetch(v1('sb-grpc', path), { method: 'POST' });
    const made = await post('mkdir?path=made%2Fa%2Fb&parents=true&mode=0700');
    expect(made.status).toBe(201);
    expect(await made.json()).toMatchObject({ path: 'made/a/b', type: 'directory', mode: 0o700 });
    expect((await post('mkdir?path=made%2Fa%2Fb&parents=true')).status).toBe(201);
    const exists = await post('mkdir?path=made%2Fa%2Fb');
    expect(exists.status).toBe(409);
    expect(((await exists.json()) as { error: { code: string } }).error.code).toBe('already_exists');
    expect((await post('mkdir?path=missing%2Fparent')).status).toBe(404);
    const noPath = await post('mkdir');
    expect(noPath.status).toBe(400);
    expect(((await noPath.json()) as { error: { message: string } }).error.message).toContain('path');
    expect((await fetch(v1('sb-grpc', 'files/made?recursive=true'), { method: 'DELETE' })).status).toBe(204);
  });

  test('the OpenAPI document is served', async () => {
    const doc = (await (await fetch(`${router.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/namespaces/{namespace}/sandboxes/{name}/exec');
  });
});

describe('WebSocket exec', () => {
  const url = (): string => `${router.wsUrl}/v1/namespaces/${ns}/sandboxes/sb-grpc/exec`;

  test('stdin in, stdout and stderr out, close-stdin, exit frame, close 1000', async () => {
    const s = await openExec(url());
    s.ws.send(JSON.stringify({ type: 'start', command: ['sh', '-c', 'cat; echo done >&2'], stdin: true }));
    await s.waitForText((f) => f['type'] === 'started');
    s.ws.send(Buffer.from('hello '));
    s.ws.send(JSON.stringify({ type: 'stdin', data: 'world' }));
    s.ws.send(JSON.stringify({ type: 'close_stdin' }));
    const exit = await s.waitForText((f) => f['type'] === 'exit');
    expect(exit).toMatchObject({ exitCode: 0, signal: '' });
    expect(await s.closed).toEqual({ code: 1000, reason: 'exit' });
    expect(s.stdout()).toBe('hello world');
    expect(s.stderr()).toBe('done\n');
  });

  test('a signal reaches the process group', async () => {
    const s = await openExec(url());
    s.ws.send(JSON.stringify({ type: 'start', shell: 'echo ready; sleep 30' }));
    await s.waitForText((f) => f['type'] === 'started');
    await new Promise<void>((resolve) => {
      const check = (): void => (s.stdout().includes('ready') ? resolve() : void setTimeout(check, 10));
      check();
    });
    s.ws.send(JSON.stringify({ type: 'signal', signal: 'SIGINT' }));
    expect(await s.waitForText((f) => f['type'] === 'exit')).toMatchObject({
      signal: 'SIGINT',
      exitCode: 130,
    });
    expect((await s.closed).code).toBe(1000);
  });

  test('a bad start frame closes with 4400 and the code in the reason', async () => {
    const s = await openExec(url());
    s.ws.send(JSON.stringify({ type: 'start' }));
    const closed = await s.closed;
    expect(closed.code).toBe(4400);
    expect(closed.reason).toMatch(/^invalid_argument: start frame/);
  });

  test('a client that goes away cancels the process', async () => {
    const s = await openExec(url());
    s.ws.send(JSON.stringify({ type: 'start', shell: 'sleep 30' }));
    await s.waitForText((f) => f['type'] === 'started');
    s.ws.terminate();
    await s.closed;
    // Process exit is not a watch event: poll the agent's process table, bounded.
    for (let i = 0; i < 200 && agent.deps.runner.size > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(agent.deps.runner.size).toBe(0);
  });
});

describe('gRPC passthrough', () => {
  test('sandbank.agent.v1 calls reach the sandbox named in metadata', async () => {
    const client = createAgentClient(router.grpcAddress, credentials.createInsecure());
    try {
      const md = new Metadata();
      md.set('x-sandbox-id', 'sb-grpc');
      md.set('x-sandbox-namespace', ns);
      const res = await new Promise<RunResponse>((resolve, reject) =>
        client.run({ process: { command: { case: 'shell', value: 'echo grpc' } } }, md, (e, r) =>
          e || !r ? reject(e ?? new Error('no reply')) : resolve(r),
        ),
      );
      expect(Buffer.from(res.stdout).toString()).toBe('grpc\n');
      // Streaming both ways: Exec through the router.
      const call = client.exec(md);
      const out: Buffer[] = [];
      call.on('data', (m: { event: { case: string; value: unknown } }) => {
        if (m.event.case === 'stdout') out.push(Buffer.from(m.event.value as Uint8Array));
      });
      const ended = new Promise<void>((resolve) => call.on('end', resolve));
      call.write({
        frame: {
          case: 'start',
          value: { process: { command: { case: 'argv', value: { args: ['cat'] } } }, stdin: true },
        },
      });
      call.write({ frame: { case: 'stdin', value: Buffer.from('bidi') } });
      call.write({ frame: { case: 'closeStdin', value: {} } });
      call.end();
      await ended;
      expect(Buffer.concat(out).toString()).toBe('bidi');
      const missing = await new Promise<ServiceError>((resolve) =>
        client.stat({ path: '.' }, new Metadata(), (e) => resolve(e as ServiceError)),
      );
      expect(missing.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(missing.details).toMatch(/^invalid_argument: x-sandbox-id/);
    } finally {
      client.close();
    }
  });
});
