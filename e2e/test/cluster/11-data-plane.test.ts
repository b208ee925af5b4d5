// The data plane of #19 on real gVisor, through the router: a terminal over the exec WebSocket
// (its size and a resize, Ctrl-C, full-screen output byte for byte), a background process that
// outlives its client and the router pod, servers in the sandbox reached through the port route
// (HTTP and WebSocket, with the token and refused without), and a signed preview link until it
// expires. One sandbox from a template of its own: the example template with two more declared
// ports (the port route reaches only declared ports).
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import WebSocket from 'ws';
import { type AttachFrame, type Obj, eventually, isReady, outputOf, splitFrames } from '@sandbank/testing';
import {
  POOL,
  POOL_NS,
  SYSTEM_NS,
  claimYaml,
  cluster,
  getJson,
  http,
  releaseSandbox,
  router,
  sandboxUrl,
  sh,
  since,
  waitClaimReady,
  wsExec,
} from './helpers.js';
import type { Cluster, HttpResult, Router, WsSession } from './helpers.js';

const NAME = 'e2e-data-plane';
const HTTP_PORT = 8000;
const WS_PORT = 8765;
const TTY = { cols: 80, rows: 24 };
let c: Cluster;
let r: Router;

beforeAll(async () => {
  c = cluster();
  r = await router(c);
  const example = await getJson<Obj>(c, ['sandboxtemplate', POOL, '-n', POOL_NS]);
  await c.kubectl(['apply', '-n', POOL_NS, '-f', '-'], { input: JSON.stringify(withPorts(example)) });
  await c.kubectl(['apply', '-n', POOL_NS, '-f', '-'], { input: claimYaml(NAME, NAME) });
  // no warm pool for this template: a cold start under gVisor on a busy machine
  await waitClaimReady(c, POOL_NS, NAME, 240_000);
}, 300_000);

afterAll(async () => {
  await releaseSandbox(c, NAME);
  await c.kubectl(['delete', 'sandboxtemplate', NAME, '-n', POOL_NS, '--ignore-not-found']);
}, 180_000);

/** The example template under this file's name, its container declaring HTTP_PORT and WS_PORT too. */
function withPorts(example: Obj): Record<string, unknown> {
  const spec = structuredClone(example['spec']) as {
    podTemplate: { spec: { containers: { ports?: Record<string, unknown>[] }[] } };
  };
  const container = spec.podTemplate.spec.containers[0];
  if (!container) throw new Error(`template ${POOL} has no container`);
  container.ports = [
    ...(container.ports ?? []),
    { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
    { name: 'ws', containerPort: WS_PORT, protocol: 'TCP' },
  ];
  return { apiVersion: example.apiVersion, kind: example.kind, metadata: { name: NAME }, spec };
}

const auth = (): Record<string, string> => ({ authorization: `Bearer ${r.token}` });
const claimUrl = (path: string): string => `${r.url}/v1/namespaces/${POOL_NS}/sandboxclaims/${NAME}/${path}`;

async function postJson(url: string, body: unknown, timeoutMs = 60_000): Promise<HttpResult> {
  return http(url, {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json' },
    body: JSON.stringify(body),
    timeoutMs,
    ca: r.ca,
  });
}

/** The body as JSON, once the status is the one expected. */
function json(res: HttpResult, status: number): unknown {
  if (res.status !== status) throw new Error(`HTTP ${res.status}, not ${status}: ${res.body.toString()}`);
  return JSON.parse(res.body.toString());
}

// --- terminals over the exec WebSocket ----------------------------------------------------------

/** Every stdout byte of the session, as sent (the helper's text view decodes frame by frame). */
function rawStdout(s: WsSession): () => Buffer {
  const chunks: Buffer[] = [];
  s.ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary && data[0] === 1) chunks.push(data.subarray(1));
  });
  return () => Buffer.concat(chunks);
}

const keys = (s: WsSession, text: string): void => s.ws.send(Buffer.from(text));

test('a terminal starts at its size, and a resize reaches the program', async () => {
  const s = await wsExec(r, POOL_NS, NAME, {
    shell: 'stty size; read line; stty size',
    stdin: true,
    tty: TTY,
  });
  await s.waitStdout('24 80\r\n', 60_000);
  s.ws.send(JSON.stringify({ type: 'resize', cols: 132, rows: 43 }));
  // the keystroke after the resize: the second `stty size` runs once the resize has been applied
  keys(s, '\n');
  await s.waitStdout('43 132\r\n', 60_000);
  expect(await s.exit).toMatchObject({ type: 'exit', exitCode: 0, timedOut: false });
}, 120_000);

test('Ctrl-C interrupts the foreground job of an interactive shell, and the shell goes on', async () => {
  const s = await wsExec(r, POOL_NS, NAME, {
    command: ['bash', '--norc', '--noprofile', '-i'],
    stdin: true,
    tty: TTY,
  });
  await s.waitStdout('$ ', 60_000); // bash's prompt (PS1 without an rc file: `bash-5.2$ `)
  // The job announces itself, then becomes `sleep 100`; the quotes keep the echo of the typed
  // line from matching.
  keys(s, 'sh -c "echo SLEE""PING; exec sleep 100"\n');
  await s.waitStdout('SLEEPING\r\n', 60_000);
  s.ws.send(Buffer.from([0x03]));
  // No `^C` echo to wait for: gVisor's line discipline does not echo control characters (ECHOCTL),
  // a kernel's does (exec-tty.test.ts). The line below is typed after the interrupt, so the
  // terminal takes it once the interrupt flushed its input; bash reads it at its next prompt.
  // 130: ended by SIGINT, long before the 100 s it would have slept (the wait's bound)
  keys(s, 'echo "after=$?"\n');
  await s.waitStdout('after=130\r\n', 60_000);
  keys(s, 'exit 4\n');
  expect(await s.exit).toMatchObject({ exitCode: 4, timedOut: false });
}, 120_000);

test('full-screen output (escape sequences, UTF-8, any byte) arrives byte for byte', async () => {
  // What a full-screen program writes: the alternate screen, cursor moves, colours, box drawing,
  // then back. No LF: the terminal would send it as CR LF (onlcr), which is the terminal's doing.
  const parts: string[] = ['\x1b[?1049h\x1b[2J\x1b[H'];
  for (let row = 1; row <= 24; row++) {
    parts.push(`\x1b[${row};1H\x1b[1;3${row % 8}m${'─'.repeat(20)} ${row} ✓ ${'│'.repeat(20)}\x1b[0m`);
  }
  parts.push('\x1b[12;30H\x1b[7m -- INSERT -- \x1b[27m\x1b[?25l\x1b[?25h\x1b[?1049l');
  // About 40 KiB in all: it goes to python3 as one argument, and Linux caps one at 128 KiB.
  const screen = Buffer.concat([
    Buffer.from(parts.join('').repeat(10)),
    // bytes that are no UTF-8 at all, but not LF: a terminal relays them untouched
    randomBytes(4096).map((b) => (b === 0x0a ? 0x0b : b)),
  ]);
  const s = await wsExec(r, POOL_NS, NAME, {
    command: [
      'python3',
      '-c',
      'import base64, sys; sys.stdout.buffer.write(base64.b64decode(sys.argv[1])); sys.stdout.buffer.flush()',
      screen.toString('base64'),
    ],
    tty: TTY,
  });
  const stdout = rawStdout(s);
  expect(await s.exit).toMatchObject({ exitCode: 0 });
  expect(stdout().length).toBe(screen.length);
  expect(stdout().equals(screen)).toBe(true);
}, 120_000);

// --- background processes (also how the servers below are started) ---------------------------

interface Process {
  id: string;
  state: 'running' | 'exited';
  exit: { exitCode: number; signal: string } | null;
}

const processesUrl = (path = ''): string => sandboxUrl(r, POOL_NS, NAME, `processes${path}`);

async function startProcess(shell: string): Promise<Process> {
  return json(await postJson(processesUrl(), { shell }), 201) as Process;
}

/**
 * Follows a process's output from offset 0 until it contains `text`, then drops the connection
 * (a client going away); resolves with the frames read.
 */
function attachUntil(id: string, text: string, timeoutMs = 60_000): Promise<AttachFrame[]> {
  return new Promise((resolve, reject) => {
    const frames: AttachFrame[] = [];
    let rest: Buffer = Buffer.alloc(0);
    const req = httpsRequest(
      processesUrl(`/${id}/attach?fromOffset=0&follow=true`),
      { headers: auth(), ca: r.ca, agent: false },
      (res) => {
        if (res.statusCode !== 200) {
          req.destroy();
          reject(new Error(`attach: HTTP ${res.statusCode ?? 0}`));
          return;
        }
        res.on('data', (chunk: Buffer) => {
          rest = splitFrames(Buffer.concat([rest, chunk]), frames);
          if (!outputOf(frames).includes(text)) return;
          clearTimeout(timer);
          req.destroy();
          resolve(frames);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no "${text}" within ${timeoutMs} ms; got ${JSON.stringify(outputOf(frames))}`));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

// --- the port route and preview links ----------------------------------------------------------

describe('servers in the sandbox through the port route', () => {
  const page = `hello from ${NAME} ${randomBytes(8).toString('hex')}\n`;

  beforeAll(async () => {
    await sh(r, NAME, `printf '%s' '${page}' >page.txt`);
    // -u: the "Serving HTTP" line is not held in a pipe's buffer, so it says when it listens
    const httpServer = await startProcess(`exec python3 -u -m http.server ${HTTP_PORT} --bind 0.0.0.0`);
    await attachUntil(httpServer.id, 'Serving HTTP');
    const wsServer = await startProcess(`exec sandbank-ws-echo ${WS_PORT}`);
    await attachUntil(wsServer.id, `listening on 0.0.0.0:${WS_PORT}`);
  }, 180_000);

  test('HTTP: 200 with the token, 401 without', async () => {
    const res = await http(claimUrl(`ports/${HTTP_PORT}/page.txt`), { headers: auth(), ca: r.ca });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(page);
    const anon = await http(claimUrl(`ports/${HTTP_PORT}/page.txt`), { ca: r.ca });
    expect(anon.status).toBe(401);
    expect(anon.body.toString()).not.toContain(page);
  }, 60_000);

  test('WebSocket: text and binary echoed through the port route; refused without the token', async () => {
    const url = claimUrl(`ports/${WS_PORT}/`).replace(/^https/, 'wss');
    const ws = new WebSocket(url, { headers: auth(), ca: r.ca });
    const messages: { data: Buffer; isBinary: boolean }[] = [];
    const two = new Promise<void>((resolve, reject) => {
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        messages.push({ data, isBinary });
        if (messages.length === 2) resolve();
      });
      ws.once('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const bytes = randomBytes(64 * 1024);
    ws.send('echo ✓');
    ws.send(bytes);
    await two;
    expect(messages[0]).toEqual({ data: Buffer.from('echo ✓'), isBinary: false });
    expect(messages[1]?.isBinary).toBe(true);
    expect(messages[1]?.data.equals(bytes)).toBe(true);
    ws.close();

    const anon = new WebSocket(url, { ca: r.ca });
    const status = await new Promise<number>((resolve, reject) => {
      anon.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
      });
      anon.once('open', () => reject(new Error('opened without a token')));
      anon.once('error', reject);
    });
    expect(status).toBe(401);
  }, 60_000);

  test('a signed preview link opens the port without the token until it expires', async () => {
    // 10 s: long enough for one GET through gVisor on a busy machine, short enough to wait out
    const mintedAt = Date.now();
    const link = json(await postJson(claimUrl('previews'), { port: HTTP_PORT, ttlSeconds: 10 }), 201) as {
      url: string;
      expiresAt: string;
      port: number;
    };
    const mintedUntil = Date.now();
    expect(link.port).toBe(HTTP_PORT);
    const open = await http(`${r.url}${link.url}page.txt`, { ca: r.ca });
    expect(open.status).toBe(200);
    expect(open.body.toString()).toBe(page);

    // Expiry is time itself: wait until the router's clock (this machine's) has passed it.
    const expiresAt = Date.parse(link.expiresAt);
    // the lifetime asked for, from some moment of the mint (the router counts whole seconds)
    expect(expiresAt).toBeGreaterThan(mintedAt + 9_000);
    expect(expiresAt).toBeLessThanOrEqual(mintedUntil + 10_000);
    await new Promise((res) => setTimeout(res, Math.max(0, expiresAt - Date.now()) + 1_000));
    const expired = await http(`${r.url}${link.url}page.txt`, { ca: r.ca });
    expect(expired.status).toBe(401);
    expect(expired.body.toString()).not.toContain(page);
  }, 60_000);
});

// --- a background process across a router restart (last: it replaces the router pod) ----------

/**
 * Calls `attempt` until it answers, retrying what a client retries while a replaced router's
 * endpoint settles behind the Service (connection refused or reset, 502/503); anything else fails.
 */
async function throughNewRouter(
  attempt: () => Promise<HttpResult>,
  deadlineMs = 90_000,
): Promise<HttpResult> {
  const t0 = performance.now();
  for (let backoff = 250; ; backoff = Math.min(backoff * 2, 4_000)) {
    let why: string;
    try {
      const res = await attempt();
      if (![502, 503].includes(res.status)) return res;
      why = `HTTP ${res.status}`;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT'].includes(code)) throw err;
      why = code;
    }
    if (since(t0) + backoff > deadlineMs) throw new Error(`the new router did not answer: ${why}`);
    await new Promise((res) => setTimeout(res, backoff));
  }
}

test('a background process outlives its client and the router pod; another client reads it all from offset 0', async () => {
  // Long enough to be running while the router pod is deleted on a busy machine.
  const started = await startProcess('echo started; sleep 20; echo done');
  expect(started.state).toBe('running');
  // the first client sees it start, then goes away
  await attachUntil(started.id, 'started\n');

  const pods = await getJson<{ items: Obj[] }>(c, ['pods', '-n', SYSTEM_NS, '-l', 'app=sandbox-router']);
  const victims = pods.items.map((p) => p.metadata.name ?? '');
  const running = json(
    await http(processesUrl(`/${started.id}`), { headers: auth(), ca: r.ca }),
    200,
  ) as Process;
  expect(running.state).toBe('running');
  await c.kubectl(['delete', 'pod', '-n', SYSTEM_NS, ...victims, '--grace-period=0', '--force']);
  // `rollout status` right after a delete may still count the old pod: wait for a new one Ready
  await eventually(
    'a new router pod Ready',
    async () => {
      const now = await getJson<{ items: Obj[] }>(c, ['pods', '-n', SYSTEM_NS, '-l', 'app=sandbox-router']);
      const fresh = now.items.filter((p) => !victims.includes(p.metadata.name ?? ''));
      return fresh.some(isReady)
        ? undefined
        : `pods ${JSON.stringify(now.items.map((p) => p.metadata.name))}`;
    },
    180_000,
    1_000,
  );

  // a second client, through the new router: everything from offset 0, then the exit
  const attach = await throughNewRouter(() =>
    http(processesUrl(`/${started.id}/attach?fromOffset=0&follow=true`), {
      headers: auth(),
      ca: r.ca,
      timeoutMs: 90_000,
    }),
  );
  expect(attach.status).toBe(200);
  const frames: AttachFrame[] = [];
  expect(splitFrames(attach.body, frames)).toHaveLength(0);
  expect(frames[0]?.kind).toBe(0);
  expect(outputOf(frames)).toBe('started\ndone\n');
  const exit = frames.at(-1);
  expect(exit?.kind).toBe(3);
  expect(JSON.parse(exit?.payload.toString() ?? '{}')).toMatchObject({ exitCode: 0, signal: '' });

  const waited = json(await postJson(processesUrl(`/${started.id}/wait`), { timeoutMs: 30_000 }), 200);
  expect(waited).toMatchObject({ state: 'exited', exit: { exitCode: 0 } });
}, 300_000);
