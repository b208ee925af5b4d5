/**
 * Generated bad input: ≥ 10,000 requests over headers, paths (traversal, encodings), bodies and
 * WebSocket frames against a router with a real agent behind it. Properties: the router never
 * crashes, never answers 5xx because of what a client sent, and its memory stays bounded.
 * Inputs that would legitimately produce a 5xx (a port where nothing listens, a sub-second
 * timeout) are kept out; programs executed come from a harmless set, everything else is random.
 */
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import WebSocket from 'ws';
import { tokenAuthenticator } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

const HTTP_RUNS = 10_000;
const RAW_RUNS = 300;
const WS_RUNS = 300;
const TOKEN = 'fuzz-token-0123456789abcdef';
/** Any single input that takes longer than this hung: a failure, never a pass. */
const HANG_MS = 30_000;

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
const heapMiB = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

let agent: TestAgent;
let router: TestRouter;

beforeAll(async () => {
  agent = await startAgent({ ip: '127.0.0.5', grpcPort: 0 });
  router = await startRouter({
    lookup: staticLookup([
      { namespace: 'default', name: 'sb', ip: '127.0.0.5' },
      { namespace: 'ns1', name: 'sb', ip: '127.0.0.5' },
    ]),
    auth: tokenAuthenticator(TOKEN),
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
    limits: {
      maxBodyBytes: 256 * 1024,
      maxJsonBytes: 16 * 1024,
      requestTimeoutMs: 20_000,
      maxStreamsPerCaller: 10_000,
    },
  });
});

afterAll(async () => {
  await router?.close();
  await agent?.close();
});

const pathPiece = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '%2e%2e',
    '%2E%2E%2F',
    '%2F',
    '%00',
    '%ff',
    '%',
    '%%',
    '%zz',
    'a',
    'é',
    '%C3%A9',
    '//',
    '\\',
    '~',
    '%252e%252e',
  ),
  fc.constantFrom('etc', 'passwd', 'proc', 'self', 'environ', 'workspace', 'x.txt', ' ', '?', '#', ';', '*'),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
);
const fsPath = fc.array(pathPiece, { minLength: 0, maxLength: 8 }).map((parts) => parts.join('/'));
const sandboxName = fc.oneof(
  fc.constant('sb'),
  fc.constant('missing'),
  fc.string({ maxLength: 70 }).map(encodeURIComponent),
);
const namespace = fc.oneof(
  fc.constantFrom('default', 'ns1', 'other'),
  fc.string({ maxLength: 70 }).map(encodeURIComponent),
);

const url = fc.oneof(
  fc.tuple(fc.constantFrom('/execute', '/upload'), fc.constant('')).map(([p]) => p),
  fc.tuple(fc.constantFrom('/download/', '/list/', '/exists/'), fsPath).map(([p, f]) => p + f),
  fc
    .tuple(
      namespace,
      sandboxName,
      fc.constantFrom('exec', 'files/', 'list?path=', 'stat?path=', 'files', 'nope'),
      fsPath,
    )
    .map(
      ([n, s, op, f]) =>
        `/v1/namespaces/${n}/sandboxes/${s}/${op}${op.endsWith('/') || op.endsWith('=') ? f : ''}`,
    ),
  fc.constantFrom('/healthz', '/readyz', '/openapi.json', '/metrics', '/', '/v1', '/v1/namespaces'),
  fsPath.map((p) => `/${p}`),
);

const headerValue = fc.string({ maxLength: 80 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));
const headers = fc.record(
  {
    'x-sandbox-id': fc.oneof(fc.constant('sb'), fc.constant('missing'), headerValue),
    'x-sandbox-namespace': fc.oneof(fc.constantFrom('default', 'ns1'), headerValue),
    'x-sandbox-port': fc.oneof(
      fc.constant('LEGACY'),
      fc.constantFrom('0', '-1', '65536', '99999999', 'http', ''),
    ),
    'x-sandbox-timeout': fc.oneof(fc.constantFrom('30', '1e3', '-1', '0', 'NaN', 'Infinity', 'soon', '')),
    'x-sandbox-pod-ip': fc.constantFrom('127.0.0.1', '169.254.169.254'),
    'content-type': fc.constantFrom(
      'application/json',
      'text/plain',
      'multipart/form-data; boundary=x',
      'multipart/form-data',
      '',
    ),
    authorization: fc.oneof(
      fc.constant(`Bearer ${TOKEN}`),
      fc.constant(`Bearer ${TOKEN}`),
      headerValue,
      fc.constant('Basic Zm9vOmJhcg=='),
    ),
  },
  { requiredKeys: [] },
);

const safeCommand = fc.constantFrom('true', 'echo fuzz', 'cat', 'ls', 'printf %s x');
const jsonBody = fc
  .oneof(
    fc.record({ command: safeCommand }, { requiredKeys: [] }),
    fc.record(
      {
        command: fc.oneof(fc.array(safeCommand, { maxLength: 2 }), fc.integer(), fc.constant(null)),
        shell: fc.oneof(safeCommand, fc.integer()),
        env: fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer())),
        cwd: fsPath,
        timeoutMs: fc.oneof(fc.integer(), fc.double()),
        stdin: fc.string({ maxLength: 50 }),
        stdinEncoding: fc.constantFrom('utf8', 'base64', 'hex'),
        outputEncoding: fc.constantFrom('utf8', 'base64', 'ucs2'),
        maxOutputBytes: fc.oneof(fc.integer(), fc.constant(1e20)),
        extra: fc.anything({ maxDepth: 2 }),
      },
      { requiredKeys: [] },
    ),
    fc.anything({ maxDepth: 3 }),
  )
  .map((v) => JSON.stringify(v) ?? 'null');
const body = fc.oneof(
  fc.constant(undefined),
  jsonBody,
  fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
  fc.constantFrom(
    '--x\r\nContent-Disposition: form-data; name="file"; filename="../../evil"\r\n\r\nhi\r\n--x--\r\n',
    '{',
    '[]',
    'null',
  ),
);

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
  url,
  headers,
  body,
});

async function pool<T>(
  items: readonly T[],
  concurrency: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++];
        if (item !== undefined) await run(item);
      }
    }),
  );
}

test(`fuzz: ${HTTP_RUNS} HTTP requests, ${RAW_RUNS} raw ones and ${WS_RUNS} WebSocket sessions`, async () => {
  const samples = fc.sample(request, { numRuns: HTTP_RUNS, seed: 20261123 });
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  // What reached the router, counted by its own HTTP server: a run where most inputs never got
  // there would prove nothing.
  const seen = { requests: 0, upgrades: 0 };
  router.app.server.on('request', () => seen.requests++);
  router.app.server.on('upgrade', () => seen.upgrades++);
  let refusedByFetch = 0;
  const send = async (r: (typeof samples)[number]): Promise<void> => {
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers)) h[k] = v === 'LEGACY' ? String(agent.restPort) : v;
    const withBody = r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD';
    let status: number;
    try {
      const res = await fetch(`${router.url}${r.url}`, {
        method: r.method,
        headers: h,
        ...(withBody && r.body !== undefined ? { body: r.body } : {}),
        signal: AbortSignal.timeout(HANG_MS),
      });
      status = res.status;
      await res.arrayBuffer();
    } catch (error) {
      // fetch itself refuses some inputs (an invalid URL, a forbidden header value) before
      // sending: counted, and their share is bounded below. A timeout (hang) or a failed
      // exchange is a failure.
      if (error instanceof TypeError && !/fetch failed/.test(error.message)) {
        refusedByFetch++;
        return;
      }
      failures.push(`${r.method} ${r.url}: ${String(error)}`);
      return;
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status >= 500) failures.push(`${r.method} ${r.url} ${JSON.stringify(r.headers)} → ${status}`);
  };
  // Memory is compared after a warm-up (lazy module state, connection pools) with forced GCs:
  // what the remaining 90 % of the run adds must stay small, whatever the input.
  const warmup = HTTP_RUNS / 10;
  await pool(samples.slice(0, warmup), 16, send);
  const heapBefore = heapMiB();
  await pool(samples.slice(warmup), 16, send);
  const httpReached = seen.requests;

  // Raw bytes on the socket: the HTTP parser's errors are 400, never a crash.
  const raw = fc.sample(
    fc.oneof(
      fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
      fc
        .tuple(fc.constantFrom('GET', 'POST', 'BREW'), fsPath, fc.string({ maxLength: 40 }))
        .map(([m, p, junk]) =>
          Buffer.from(`${m} /${p} HTTP/1.1\r\nHost: x\r\nX-Sandbox-ID: sb\r\n${junk}\r\n\r\n`),
        ),
    ),
    { numRuns: RAW_RUNS, seed: 7 },
  );
  const port = Number(new URL(router.url).port);
  // Each raw input ends one of three ways: a status line (answered), the router closing without
  // one (bytes that are not a request, e.g. none at all, or a request cut short by our end()),
  // or a socket error; never a hang.
  const rawOutcomes = { answered: 0, closedUnanswered: 0, errors: 0 };
  await pool(raw, 16, (bytes) => {
    return new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
      const timer = setTimeout(() => {
        failures.push(`raw request hung for ${HANG_MS} ms: ${JSON.stringify(bytes.toString('latin1'))}`);
        socket.destroy();
      }, HANG_MS);
      let head = '';
      let error = false;
      socket.on('data', (d: Buffer) => (head += d.toString('latin1')));
      socket.on('error', () => (error = true));
      socket.on('close', () => {
        clearTimeout(timer);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
        if (status >= 500) failures.push(`raw request → ${status}`);
        if (status > 0) rawOutcomes.answered++;
        else if (error) rawOutcomes.errors++;
        else rawOutcomes.closedUnanswered++;
        resolve();
      });
    });
  });

  // WebSocket sessions with random frames: closed with a protocol or error code, never 1011.
  const randomFrames = fc.array(
    fc.oneof(
      fc.string({ maxLength: 200 }).map((s) => ({ text: s })),
      fc
        .record(
          {
            type: fc.constantFrom('start', 'stdin', 'close_stdin', 'signal', 'resize', 'bogus'),
            command: fc.constantFrom(['cat'], 'cat', [], undefined),
            shell: fc.constantFrom(undefined, 'true', 7),
            stdin: fc.boolean(),
            signal: fc.constantFrom('SIGINT', 'SIGSTOP', 9),
            data: fc.string({ maxLength: 20 }),
            cols: fc.integer(),
            rows: fc.integer(),
          },
          { requiredKeys: ['type'] },
        )
        .map((o) => ({ text: JSON.stringify(o) })),
      fc.uint8Array({ maxLength: 300 }).map((b) => ({ binary: Buffer.from(b) })),
    ),
    { minLength: 1, maxLength: 8 },
  );
  // Half the sessions start a real process first, so later frames reach a live session.
  const validStart = { text: JSON.stringify({ type: 'start', command: ['cat'], stdin: true }) };
  const wsFrames = fc
    .tuple(fc.boolean(), randomFrames)
    .map(([start, frames]) => (start ? [validStart, ...frames] : frames));
  const sessions = fc.sample(wsFrames, { numRuns: WS_RUNS, seed: 99 });
  const closeCodes = new Map<number, number>();
  await pool(sessions, 16, (frames) => {
    return new Promise<void>((resolve) => {
      const ws = new WebSocket(
        `${router.wsUrl}/v1/namespaces/default/sandboxes/sb/exec`,
        'sandbank.exec.v1',
        {
          headers: { authorization: `Bearer ${TOKEN}` },
        },
      );
      const timer = setTimeout(() => {
        failures.push(`ws session hung for ${HANG_MS} ms: ${JSON.stringify(frames).slice(0, 300)}`);
        ws.terminate();
      }, HANG_MS);
      ws.on('open', () => {
        for (const f of frames) {
          if ('text' in f) ws.send(f.text);
          else ws.send(f.binary);
        }
        // Leave the session open briefly, then close politely if the router has not.
        setTimeout(() => ws.close(1000), 50);
      });
      ws.on('error', (error) => failures.push(`ws error: ${error.message}`));
      ws.on('unexpected-response', (_req, res) => {
        failures.push(`ws upgrade → ${res.statusCode ?? 0}`);
        clearTimeout(timer);
        resolve();
      });
      ws.on('close', (code) => {
        clearTimeout(timer);
        closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
        // 1011 is the router failing; 1006 is the connection dropped without a close frame.
        if (code === 1011 || code === 1006) failures.push(`ws closed ${code}`);
        resolve();
      });
    });
  });

  const health = await fetch(`${router.url}/healthz`);
  const heapAfter = heapMiB();
  const metricsText = await router.app.metrics.registry.metrics();
  const total = HTTP_RUNS + RAW_RUNS + WS_RUNS;
  process.stdout.write(
    `fuzz: ${total} inputs (${HTTP_RUNS} HTTP requests, ${RAW_RUNS} raw, ${WS_RUNS} WebSocket sessions); ` +
      `statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; ws close codes ${JSON.stringify(Object.fromEntries(closeCodes))}; ` +
      `reached the router: ${httpReached} HTTP requests (${refusedByFetch} refused by fetch before sending), ` +
      `${seen.upgrades} upgrades; raw ${JSON.stringify(rawOutcomes)}; ` +
      `heap after warm-up ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB; ${failures.length} failures\n`,
  );
  expect(failures.slice(0, 20)).toEqual([]);
  // Every generated HTTP request was either answered or refused by fetch before it was sent, and
  // the refused ones are a small share: the rest reached the router and got a status.
  const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
  expect(answered + refusedByFetch).toBe(HTTP_RUNS);
  expect(refusedByFetch).toBeLessThan(HTTP_RUNS / 10);
  // The router's server saw exactly the requests that were answered, each once.
  expect(httpReached).toBe(answered);
  // Every WebSocket session reached the router's upgrade handler and ended with a close frame.
  expect(seen.upgrades).toBe(WS_RUNS);
  expect([...closeCodes.values()].reduce((a, b) => a + b, 0)).toBe(WS_RUNS);
  // Most raw inputs were answered (a 400 for the junk), the rest closed without a hang.
  expect(rawOutcomes.answered + rawOutcomes.closedUnanswered + rawOutcomes.errors).toBe(RAW_RUNS);
  expect(rawOutcomes.answered).toBeGreaterThan(RAW_RUNS / 2);
  expect(health.status).toBe(200);
  expect(heapAfter - heapBefore).toBeLessThan(48);
  // Nothing is left in flight: every slot and stream was released.
  expect(metricsText).not.toMatch(/sandbank_router_inflight_requests\{[^}]*\} [1-9]/);
  expect(metricsText).toMatch(/sandbank_router_websocket_sessions 0/);
}, 300_000);
