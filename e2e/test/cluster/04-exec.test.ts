// Exec and files through the router against a claimed sandbox: streaming WebSocket exec with
// stdin (sandbank.exec.v1), a timeout, a 100 MB file round trip, and the legacy /execute API
// through `kubectl port-forward svc/sandbox-router-svc` (what the old Python client does).
import { createHash, randomBytes } from 'node:crypto';
import { portForward } from '../../src/cluster/kubectl.js';
import {
  POOL_NS,
  SYSTEM_NS,
  claimForSuite,
  exec,
  http,
  releaseSandbox,
  sandboxUrl,
  sh,
  since,
  wsExec,
} from './helpers.js';
import type { Cluster, Router } from './helpers.js';

const NAME = 'e2e-exec';
let c: Cluster;
let r: Router;

beforeAll(async () => {
  ({ c, r } = await claimForSuite(NAME));
}, 120_000);

afterAll(async () => {
  await releaseSandbox(c, NAME);
}, 120_000);

test('WebSocket exec streams output while stdin is still open', async () => {
  // prints a prompt, then waits for a line: the prompt must arrive before we send it
  const s = await wsExec(r, POOL_NS, NAME, {
    shell: 'echo ready; read line; echo "got $line"; cat | wc -c',
    stdin: true,
  });
  await s.waitStdout('ready\n');
  expect(s.stdout()).toBe('ready\n');
  s.ws.send(JSON.stringify({ type: 'stdin', data: 'hello\n' }));
  await s.waitStdout('got hello\n');
  // binary stdin, then EOF: cat | wc -c counts it
  s.ws.send(Buffer.alloc(100_000, 0x61));
  s.ws.send(JSON.stringify({ type: 'close_stdin' }));
  const exit = await s.exit;
  expect(exit).toMatchObject({ type: 'exit', exitCode: 0, timedOut: false });
  expect(s.stdout()).toBe('ready\ngot hello\n100000\n');
}, 60_000);

test('a command past its timeout is killed and reported as timedOut', async () => {
  const t0 = performance.now();
  const res = await exec(r, POOL_NS, NAME, { shell: 'echo started; sleep 60', timeoutMs: 1_000 });
  expect(res.timedOut).toBe(true);
  expect(res.exitCode).not.toBe(0);
  expect(res.stdout).toBe('started\n');
  expect(since(t0)).toBeLessThan(15_000);
  // the sandbox is fine afterwards
  expect((await sh(r, NAME, 'echo after')).stdout).toBe('after\n');
}, 60_000);

test('a 100 MB file round trip keeps every byte (PUT/GET files/{path})', async () => {
  const data = randomBytes(100 * 1024 * 1024);
  const digest = createHash('sha256').update(data).digest('hex');
  const auth = { authorization: `Bearer ${r.token}` };

  let t0 = performance.now();
  const put = await http(sandboxUrl(r, POOL_NS, NAME, 'files/big.bin'), {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
    body: data,
    timeoutMs: 180_000,
  });
  const putMs = since(t0);
  expect(put.status).toBe(201);
  expect(JSON.parse(put.body.toString())).toMatchObject({ size: data.length, type: 'file' });

  // the agent's view of the file
  const inside = await sh(r, NAME, 'sha256sum big.bin');
  expect(inside.stdout.split(' ')[0]).toBe(digest);

  t0 = performance.now();
  const hash = createHash('sha256');
  let received = 0;
  const get = await http(sandboxUrl(r, POOL_NS, NAME, 'files/big.bin'), {
    headers: auth,
    timeoutMs: 180_000,
    onData: (chunk) => {
      received += chunk.length;
      hash.update(chunk);
    },
  });
  const getMs = since(t0);
  expect(get.status).toBe(200);
  expect(received).toBe(data.length);
  expect(hash.digest('hex')).toBe(digest);
  const mbps = (ms: number): string => (100 / (ms / 1000)).toFixed(1);
  process.stderr.write(
    `[e2e] 100 MiB through the router: PUT ${putMs} ms (${mbps(putMs)} MiB/s), GET ${getMs} ms (${mbps(getMs)} MiB/s)\n`,
  );
  await sh(r, NAME, 'rm big.bin');
}, 300_000);

test('legacy POST /execute through kubectl port-forward svc/sandbox-router-svc, over TLS', async () => {
  const pf = await portForward(c.kubeconfigPath, SYSTEM_NS, 'svc/sandbox-router-svc', 8080);
  try {
    // the router's certificate names 127.0.0.1 for this: the client verifies it as usual
    const res = await http(`https://127.0.0.1:${pf.localPort}/execute`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${r.token}`,
        'content-type': 'application/json',
        'x-sandbox-id': NAME,
        'x-sandbox-namespace': POOL_NS,
      },
      body: JSON.stringify({ command: "python3 -c 'print(6 * 7)'" }),
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ stdout: '42\n', stderr: '', exit_code: 0 });

    // without the token the router refuses (auth is on by default)
    const anon = await http(`https://127.0.0.1:${pf.localPort}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sandbox-id': NAME, 'x-sandbox-namespace': POOL_NS },
      body: JSON.stringify({ command: 'echo hi' }),
    });
    expect(anon.status).toBe(401);

    // no plaintext behind the tunnel either: the router speaks only TLS
    await expect(http(`http://127.0.0.1:${pf.localPort}/healthz`, { timeoutMs: 10_000 })).rejects.toThrow();
  } finally {
    pf.close();
  }
}, 60_000);
