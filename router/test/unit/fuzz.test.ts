/**
 * Generated bad input on HTTP: requests over headers, paths (traversal, encodings) and bodies,
 * and raw bytes that are not HTTP at all, against a router with a real agent behind it. Most
 * inputs ride in-memory connections into the router's real HTTP server (its parser, routes and
 * handlers, without the kernel's loopback and a full client per request); one request in five
 * and one raw input in six go over real sockets. Properties: the router never crashes or hangs a
 * request, never answers 5xx because of what a client sent, its heap stays bounded, nothing stays
 * in flight, and a WebSocket session opened before the run (`cat`) keeps echoing throughout.
 * Inputs that would legitimately produce a 5xx (a port where nothing listens, a sub-second
 * timeout) are kept out; programs executed come from a harmless set, everything else is random.
 * WebSocket frames and gRPC passthrough have their own suites (fuzz-ws, fuzz-grpc).
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { ALL_NAMESPACES, tokenAuthenticator } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import {
  Canary,
  exchange,
  heapMiB,
  nothingInFlight,
  pool,
  requestBytes,
  settledMetrics,
} from '../helpers/fuzz.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

const HTTP_RUNS = Number(process.env['FUZZ_HTTP_RUNS'] ?? 17_000);
const RAW_RUNS = Number(process.env['FUZZ_RAW_RUNS'] ?? 2_000);
/** Every this many requests (raw inputs), one goes over a real socket. */
const HTTP_SOCKET_EVERY = 5;
const RAW_SOCKET_EVERY = 6;
const TOKEN = 'fuzz-token-0123456789abcdef';
/** Any single input that takes longer than this hung: a failure, never a pass. */
const HANG_MS = 60_000;
const CONCURRENCY = 16;

let agent: TestAgent;
let router: TestRouter;

beforeAll(async () => {
  agent = await startAgent({ ip: '127.0.0.5', grpcPort: 0 });
  router = await startRouter({
    lookup: staticLookup([
      { namespace: 'default', name: 'sb', ip: '127.0.0.5' },
      { namespace: 'ns1', name: 'sb', ip: '127.0.0.5' },
    ]),
    auth: tokenAuthenticator({ token: { token: TOKEN, namespaces: ALL_NAMESPACES } }),
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

type Generated = typeof request extends fc.Arbitrary<infer T> ? T : never;

/** The request target as fetch would send it (a URL's path and query), or the text as it is. */
function targetOf(url: string): string {
  try {
    const u = new URL(url, 'http://router.test');
    return `${u.pathname}${u.search}`;
  } catch {
    return url;
  }
}

const headersOf = (r: Generated): Record<string, string> => {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) h[k] = v === 'LEGACY' ? String(agent.restPort) : v;
  return h;
};

test(`fuzz: ${HTTP_RUNS} HTTP requests and ${RAW_RUNS} raw inputs`, async () => {
  const started = Date.now();
  const canary = new Canary(`${router.wsUrl}/v1/namespaces/default/sandboxes/sb/exec`, {
    authorization: `Bearer ${TOKEN}`,
  });
  await canary.start();
  const samples = fc.sample(request, { numRuns: HTTP_RUNS, seed: 20261123 });
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  // What reached the router, counted by its own HTTP server: a run where most inputs never got
  // there would prove nothing.
  const seen = { requests: 0, parseErrors: 0 };
  router.app.server.on('request', () => seen.requests++);
  // Bytes fetch would have normalized away (a character its URL parser encodes differently than
  // a raw request line carries it) can fail the router's HTTP parser: answered 400, no request.
  router.app.server.on('clientError', () => seen.parseErrors++);
  let refusedByFetch = 0;
  let overSockets = 0;
  let pokes = 0;
  let canaryMissed = 0;
  const answered = (r: Generated, status: number): void => {
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status >= 500) failures.push(`${r.method} ${r.url} ${JSON.stringify(r.headers)} → ${status}`);
  };

  /** Over a real socket, with fetch (which refuses a few inputs before sending them). */
  const overSocket = async (r: Generated): Promise<void> => {
    overSockets++;
    const withBody = r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD';
    try {
      const res = await fetch(`${router.url}${r.url}`, {
        method: r.method,
        headers: headersOf(r),
        ...(withBody && r.body !== undefined ? { body: r.body } : {}),
        signal: AbortSignal.timeout(HANG_MS),
      });
      await res.arrayBuffer();
      answered(r, res.status);
    } catch (error) {
      // fetch itself refuses some inputs (an invalid URL, a forbidden header value) before
      // sending: counted, and their share is bounded below. A timeout (hang) or a failed
      // exchange is a failure.
      if (error instanceof TypeError && !/fetch failed/.test(error.message)) refusedByFetch++;
      else failures.push(`${r.method} ${r.url}: ${String(error)}`);
    }
  };
  /** In memory, from one of 64 client addresses (pre-authentication limits are per address). */
  const inMemory = async (r: Generated, i: number): Promise<void> => {
    const bytes = requestBytes({
      method: r.method,
      target: targetOf(r.url),
      headers: headersOf(r),
      body: r.body,
    });
    const x = await exchange(router.app.server, bytes, {
      hangMs: HANG_MS,
      remoteAddress: `198.18.0.${i % 64}`,
    });
    if (x.hung) failures.push(`${r.method} ${r.url}: hung for ${HANG_MS} ms`);
    else if (x.status === 0) failures.push(`${r.method} ${r.url}: closed without an answer`);
    else answered(r, x.status);
  };
  const send = async (r: Generated, i: number): Promise<void> => {
    await (i % HTTP_SOCKET_EVERY === 0 ? overSocket(r) : inMemory(r, i));
    if (i % 500 === 0) {
      pokes++;
      if (!(await canary.poke(`poke ${i}`, HANG_MS))) canaryMissed++;
    }
  };
  // Memory is compared after a warm-up (lazy module state, connection pools) with forced GCs:
  // what the remaining 90 % of the run adds must stay small, whatever the input.
  const warmup = Math.floor(HTTP_RUNS / 10);
  await pool(samples.slice(0, warmup), CONCURRENCY, send);
  const heapBefore = heapMiB();
  await pool(samples.slice(warmup), CONCURRENCY, (r, i) => send(r, i + warmup));
  const httpReached = seen.requests;
  const httpParseErrors = seen.parseErrors;

  // Raw bytes: the HTTP parser's errors are 400, never a crash. Each input ends one of three
  // ways: a status line (answered), the router closing without one (bytes that are not a
  // request, e.g. none at all, or a request cut short by the client's end), or a socket error;
  // never a hang.
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
  const rawOutcomes = { answered: 0, closedUnanswered: 0, errors: 0 };
  const rawOverSocket = (bytes: Buffer): Promise<void> =>
    new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
      const timer = setTimeout(() => {
        failures.push(`raw input hung for ${HANG_MS} ms: ${JSON.stringify(bytes.toString('latin1'))}`);
        socket.destroy();
      }, HANG_MS);
      let head = '';
      let error = false;
      socket.on('data', (d: Buffer) => (head += d.toString('latin1')));
      socket.on('error', () => (error = true));
      socket.on('close', () => {
        clearTimeout(timer);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
        if (status >= 500) failures.push(`raw input → ${status}`);
        if (status > 0) rawOutcomes.answered++;
        else if (error) rawOutcomes.errors++;
        else rawOutcomes.closedUnanswered++;
        resolve();
      });
    });
  await pool(raw, CONCURRENCY, async (bytes, i) => {
    if (i % RAW_SOCKET_EVERY === 0) return rawOverSocket(bytes);
    const x = await exchange(router.app.server, bytes, { hangMs: HANG_MS, endRequest: true });
    if (x.hung)
      failures.push(`raw input hung for ${HANG_MS} ms: ${JSON.stringify(bytes.toString('latin1'))}`);
    if (x.status >= 500) failures.push(`raw input → ${x.status}`);
    if (x.status > 0) rawOutcomes.answered++;
    else rawOutcomes.closedUnanswered++;
  });

  const health = await fetch(`${router.url}/healthz`);
  const canaryEnd = await canary.finish();
  const heapAfter = heapMiB();
  const metricsText = await settledMetrics(() => router.app.metrics.registry.metrics(), nothingInFlight);
  process.stdout.write(
    `fuzz-http: ${HTTP_RUNS + RAW_RUNS} inputs (${HTTP_RUNS} HTTP requests, ${overSockets} of them over sockets; ` +
      `${RAW_RUNS} raw, ${Math.ceil(RAW_RUNS / RAW_SOCKET_EVERY)} over sockets) in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; ` +
      `reached the router: ${httpReached} HTTP requests and ${httpParseErrors} its parser refused ` +
      `(${refusedByFetch} refused by fetch before sending); ` +
      `raw ${JSON.stringify(rawOutcomes)}; canary ${pokes} pokes, ${canaryMissed} missed, ${JSON.stringify(canaryEnd)}; ` +
      `heap after warm-up ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB; ${failures.length} failures\n`,
  );
  expect(failures.slice(0, 20)).toEqual([]);
  // Every generated request was either answered or refused by fetch before it was sent, and the
  // refused ones are a small share: the rest reached the router and got a status.
  const answeredCount = [...statuses.values()].reduce((a, b) => a + b, 0);
  expect(answeredCount + refusedByFetch).toBe(HTTP_RUNS);
  expect(refusedByFetch).toBeLessThan(overSockets / 10);
  // The router's server saw exactly the requests that were answered, each once, and its parser
  // refused few of them.
  expect(httpReached + httpParseErrors).toBe(answeredCount);
  expect(httpParseErrors).toBeLessThan(HTTP_RUNS / 100);
  // Most raw inputs were answered (a 400 for the junk), the rest closed without a hang.
  expect(rawOutcomes.answered + rawOutcomes.closedUnanswered + rawOutcomes.errors).toBe(RAW_RUNS);
  expect(rawOutcomes.answered).toBeGreaterThan(RAW_RUNS / 2);
  expect(health.status).toBe(200);
  // The session opened before the run saw none of it.
  expect({ canaryMissed, ...canaryEnd }).toEqual({
    canaryMissed: 0,
    intact: true,
    exitCode: 0,
    closeCode: 1000,
  });
  expect(heapAfter - heapBefore).toBeLessThan(48);
  // Nothing is left in flight: every slot and stream was released.
  expect(metricsText).not.toMatch(/sandbank_router_inflight_requests\{[^}]*\} [1-9]/);
}, 1_200_000);
