/**
 * Generated hostile sandboxes: ≥ 1,000 upstream answers no honest server sends, through every
 * path a sandbox answers the router on: the port proxy and the legacy REST of a pod without an
 * agent (raw HTTP/1.1 bytes: any status line, 1xx runs, broken headers, lying lengths, resets,
 * silence), and the agent's gRPC (raw HTTP/2: odd statuses and content types, lying length
 * prefixes, compressed frames without an encoding, garbage trailers, resets, dead connections)
 * behind the Sandbank API, the legacy translation and the gRPC passthrough. Properties: the router
 * stays up and answers each request as the router (a status 200–599, its own error body when the
 * pod's answer cannot be forwarded, never `internal`), a pod's answer never carries Set-Cookie or
 * escapes the sandboxing headers, another tenant's WebSocket session and execs running meanwhile
 * are unaffected, and the heap stays bounded.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { jest } from '@jest/globals';
import { credentials, Metadata } from '@grpc/grpc-js';
import fc from 'fast-check';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import type { AgentPromiseClient } from '@sandbank/proto';
import { DEFAULT_BUFFERED_OUTPUT_BYTES } from '../../src/exec-spec.js';
import { installPropagator } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { startHostileAgent } from '../helpers/hostile-agent.js';
import type { AgentScript, Frame, HostileAgent } from '../helpers/hostile-agent.js';
import { startHostileUpstream } from '../helpers/hostile-upstream.js';
import type { HostileUpstream, Script, Step } from '../helpers/hostile-upstream.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';
import { openExec } from '../helpers/ws.js';

jest.setTimeout(900_000);

const HTTP_RUNS = 800;
const GRPC_RUNS = 700;
/** Any single request that takes longer than this hung: a failure, never a pass. */
const HANG_MS = 60_000;
/** The raw HTTP answers are sampled with this seed, the gRPC answers with the next. */
const SEED = Number(process.env['FUZZ_SEED'] ?? 1616);
if (!Number.isSafeInteger(SEED))
  throw new Error(`FUZZ_SEED: not an integer: ${String(process.env['FUZZ_SEED'])}`);

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
const heapMiB = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

let good: TestAgent;
let hostileHttp: HostileUpstream;
let hostileGrpc: HostileAgent;
let router: TestRouter;
let passthrough: AgentPromiseClient;

beforeAll(async () => {
  // The router passes each request's trace on to the agent, as it does in production: the hostile
  // agent picks a request's script by its trace id, so each answer reaches the request it was
  // generated for (and a failure names the script that caused it), at any concurrency.
  installPropagator();
  good = await startAgent({ ip: '127.0.0.63', grpcPort: 0 });
  // An agent's gRPC port is the same in every pod: the hostile one listens on the good one's.
  hostileGrpc = await startHostileAgent('127.0.0.62', { port: good.grpcPort, defaultDelayMs: 5 });
  hostileHttp = await startHostileUpstream('127.0.0.61');
  router = await startRouter({
    lookup: staticLookup([
      { namespace: 'default', name: 'good', ip: good.ip },
      { namespace: 'default', name: 'hostile-http', ip: hostileHttp.ip, protocol: 'http' },
      { namespace: 'default', name: 'hostile-grpc', ip: hostileGrpc.ip, protocol: 'grpc' },
    ]),
    // The legacy port ("the agent") is where the pod without an agent serves the legacy REST.
    agentPorts: { grpcPort: good.grpcPort, legacyPort: hostileHttp.port },
    limits: { maxStreamsPerCaller: 10_000, requestTimeoutMs: 30_000 },
  });
  passthrough = createAgentPromiseClient(createAgentClient(router.grpcAddress, credentials.createInsecure()));
});

afterAll(async () => {
  await router?.close();
  await hostileGrpc?.close();
  await hostileHttp?.close();
  await good?.close();
});

// ---- raw HTTP/1.1 answers --------------------------------------------------------------------

const statusLine = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.integer({ min: 0, max: 999 }).map((n) => `HTTP/1.1 ${String(n).padStart(3, '0')} X\r\n`),
  },
  {
    weight: 6,
    arbitrary: fc.constantFrom(200, 201, 204, 302, 404, 500, 503).map((n) => `HTTP/1.1 ${n} OK\r\n`),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'HTTP/1.0 200 OK\r\n',
      'HTTP/2 200\r\n',
      'HTTP/1.1 200\r\n',
      'HTTP/1.1 20 OK\r\n',
      'HTTP/1.1 2000 OK\r\n',
      'http/1.1 200 ok\r\n',
      'HTTP/1.1 200 OK\n',
      'HTTP/1.1 -20 OK\r\n',
      'ICY 200 OK\r\n',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => `${s}\r\n`) },
);
const headerName = fc.oneof(
  fc.constantFrom(
    'content-type',
    'set-cookie',
    'set-cookie',
    'location',
    'connection',
    'keep-alive',
    'upgrade',
    'trailer',
    'x-sandbank-error-code',
    'strict-transport-security',
    'content-security-policy',
    'www-authenticate',
    'x-a',
  ),
  fc.string({ maxLength: 16 }),
);
const headerValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('text/html', 'sid=1; Path=/', 'close', 'x-a', 'http://127.0.0.61/x', 'websocket'),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.integer({ min: 0, max: 40_000 }).map((n) => 'v'.repeat(n)),
);
const headerLines = fc.array(
  fc.oneof(
    { weight: 8, arbitrary: fc.tuple(headerName, headerValue).map(([n, v]) => `${n}: ${v}\r\n`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((s) => `${s}\r\n`) },
  ),
  { maxLength: 8 },
);
const payload = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.integer({ min: 0, max: 300_000 }).map((n) => '.'.repeat(n)),
);
/** The framing of the body: honest, lying, chunked (well-formed or not), or until close. */
const body = fc.oneof(
  payload.map((p): Step[] => [{ write: `content-length: ${p.length}\r\n\r\n${p}` }]),
  fc
    .tuple(payload, fc.integer({ min: 1, max: 1_000_000 }))
    .map(([p, extra]): Step[] => [{ write: `content-length: ${p.length + extra}\r\n\r\n${p}` }]),
  payload.map((p): Step[] => [
    { write: `transfer-encoding: chunked\r\n\r\n${p.length.toString(16)}\r\n${p}\r\n0\r\n\r\n` },
  ]),
  fc
    .string({ maxLength: 40 })
    .map((junk): Step[] => [{ write: `transfer-encoding: chunked\r\n\r\n${junk}` }]),
  fc.constantFrom<Step[]>(
    [{ write: 'content-length: 1\r\ncontent-length: 2\r\n\r\nab' }],
    [{ write: 'content-length: -1\r\n\r\n' }],
    [{ write: 'transfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n' }],
    [{ write: '\r\n' }, { delayMs: 30 }, { write: 'a' }, { delayMs: 30 }, { write: 'b' }],
  ),
  payload.map((p): Step[] => [{ write: `\r\n${p}` }]),
);
const informational = fc.oneof(
  { weight: 8, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 5 }) },
  { weight: 1, arbitrary: fc.integer({ min: 95, max: 150 }) },
);
const ending = fc.oneof(
  { weight: 10, arbitrary: fc.constant<Step[]>([{ end: true }]) },
  { weight: 3, arbitrary: fc.constant<Step[]>([{ reset: true }]) },
  { weight: 1, arbitrary: fc.constant<Step[]>([{ hang: true }]) },
);
const httpScript = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .tuple(informational, fc.constantFrom(100, 102, 103, 199), statusLine, headerLines, body, ending)
      .map(([n, code, status, headers, b, end]): Script => [
        ...(n > 0 ? [{ repeat: `HTTP/1.1 ${code} Info\r\n\r\n`, times: n }] : []),
        { write: status + headers.join('') },
        ...b,
        ...end,
      ]),
  },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ maxLength: 600 })
      .map((b): Script => [{ write: Buffer.from(b) }, { end: true }]),
  },
  { weight: 1, arbitrary: fc.constantFrom<Script>([{ end: true }], [{ reset: true }], [{ hang: true }]) },
);
const httpRoute = fc.constantFrom('port', 'port', 'execute', 'list');

// ---- raw HTTP/2 gRPC answers -----------------------------------------------------------------

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.integer({ min: 0, max: 2_000 }).map((size): Frame => ({ kind: 'reply', size })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(DEFAULT_BUFFERED_OUTPUT_BYTES + 1, 3 * 1024 * 1024, 10 * 1024 * 1024)
      .map((size): Frame => ({ kind: 'reply', size })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(0, 10, 2 ** 24, 2 ** 31, 2 ** 32 - 1), fc.integer({ min: 0, max: 64 }))
      .map(([claimed, actual]): Frame => ({ kind: 'lie', claimed, actual })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 64 }).map((size): Frame => ({ kind: 'compressed', size })),
  },
  {
    weight: 2,
    arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes): Frame => ({ kind: 'garbage', bytes })),
  },
);
const grpcScript: fc.Arbitrary<AgentScript> = fc.record({
  status: fc.constantFrom(200, 200, 200, 200, 204, 302, 400, 404, 500, 503),
  contentType: fc.constantFrom(
    'application/grpc',
    'application/grpc',
    'application/grpc+proto',
    'text/html',
    undefined,
  ),
  trailersOnly: fc.boolean(),
  frames: fc.array(frameArb, { maxLength: 3 }),
  grpcStatus: fc.constantFrom(
    '0',
    '0',
    '2',
    '3',
    '5',
    '7',
    '8',
    '13',
    '14',
    '16',
    '99',
    '-1',
    'abc',
    '',
    undefined,
  ),
  grpcMessage: fc.oneof(
    fc.constant(undefined),
    fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    fc.constantFrom('%', '%zz', '%E2%82', 'x'.repeat(10_000)),
  ),
  ending: fc.constantFrom<AgentScript['ending']>(
    'trailers',
    'trailers',
    'trailers',
    'end',
    'rst',
    'destroy',
    'goaway',
    'hang',
  ),
});
const grpcRoute = fc.constantFrom(
  'exec',
  'stat',
  'list',
  'download',
  'execute',
  'legacy-list',
  'legacy-download',
  'ws',
  'run',
  'pt-stat',
);

// ---- running them ----------------------------------------------------------------------------

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

interface Outcome {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string | undefined;
}

interface Send {
  readonly method?: string;
  readonly body?: string;
  readonly headers: Record<string, string>;
}

async function send(path: string, init: Send): Promise<Outcome> {
  const res = await fetch(`${router.url}${path}`, {
    ...init,
    headers: { ...init.headers, 'x-sandbox-timeout': '3' },
    signal: AbortSignal.timeout(HANG_MS),
    // The router's answer as it is: a client following a pod's redirect waits for the body first,
    // so a body cut after the status (allowed) would look like no answer at all.
    redirect: 'manual',
  });
  let text: string | undefined;
  try {
    text = await res.text();
  } catch {
    text = undefined; // a response cut after its status: allowed
  }
  return { status: res.status, headers: res.headers, body: text };
}

test(`hostile upstream fuzz: ${HTTP_RUNS} raw HTTP answers and ${GRPC_RUNS} raw gRPC answers`, async () => {
  const failures: string[] = [];
  const statuses = new Map<string, number>();
  const count = (key: string): void => void statuses.set(key, (statuses.get(key) ?? 0) + 1);

  // Another tenant, meanwhile: a WebSocket session echoing through cat, and execs in a loop.
  const session = await openExec(`${router.wsUrl}/v1/namespaces/default/sandboxes/good/exec`);
  session.ws.send(JSON.stringify({ type: 'start', command: ['cat'], stdin: true }));
  await session.waitForText((f) => f['type'] === 'started');
  let echoes = 0;
  let goodExecs = 0;
  let running = true;
  const tenant = (async () => {
    while (running) {
      const line = `line-${echoes}\n`;
      session.ws.send(Buffer.from(line));
      echoes++;
      const res = await fetch(`${router.url}/v1/namespaces/default/sandboxes/good/exec`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ command: ['printf', `ok-${goodExecs}`] }),
      });
      const out = (await res.json()) as { stdout?: string };
      if (res.status !== 200 || out.stdout !== `ok-${goodExecs}`)
        failures.push(`the other tenant's exec ${goodExecs}: ${res.status} ${JSON.stringify(out)}`);
      goodExecs++;
    }
  })();

  // The port proxy and a pod's own legacy REST.
  const checkHttp = (o: Outcome, what: string): void => {
    const code = o.headers.get('x-sandbank-error-code');
    count(`http ${o.status}${code ? ` ${code}` : ''}`);
    if (o.status < 200 || o.status > 599) failures.push(`${what}: status ${o.status}`);
    if (code !== null) {
      if (!['upstream_failed', 'deadline_exceeded'].includes(code))
        failures.push(`${what}: router code ${code}`);
      if (o.body !== undefined && !/^\{"detail":/.test(o.body))
        failures.push(`${what}: not the router's body`);
      return;
    }
    if (o.headers.get('set-cookie') !== null) failures.push(`${what}: Set-Cookie passed`);
    if (o.headers.get('content-security-policy') !== 'sandbox') failures.push(`${what}: no CSP sandbox`);
    if (o.headers.get('x-content-type-options') !== 'nosniff') failures.push(`${what}: no nosniff`);
  };
  // As bytes, before any is measured: the scripts' strings would otherwise be flattened (a heap
  // copy each) the first time they are written, which is the test's memory, not the router's.
  const bytes = (text: string | Buffer): Buffer =>
    typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  const httpCases = fc
    .sample(fc.tuple(httpScript, httpRoute), { numRuns: HTTP_RUNS, seed: SEED })
    .map(([script, route]) => {
      const steps = script.map((step): Step => {
        if ('write' in step) return { write: bytes(step.write) };
        if ('repeat' in step) return { repeat: bytes(step.repeat), times: step.times };
        if ('forever' in step) return { forever: bytes(step.forever) };
        return step;
      });
      return [steps, route] as const;
    });
  const runHttp = async ([script, route]: (typeof httpCases)[number]): Promise<void> => {
    const id = hostileHttp.register(script);
    const shown = script.map((step) => ('write' in step ? { write: step.write.toString('latin1') } : step));
    const what = `${route} ${JSON.stringify(shown).slice(0, 400)}`;
    const headers = { 'x-sandbox-id': 'hostile-http', 'x-script': id };
    try {
      const o =
        route === 'port'
          ? await send(`/script/${id}`, {
              headers: { ...headers, 'x-sandbox-port': String(hostileHttp.port) },
            })
          : route === 'execute'
            ? await send('/execute', {
                method: 'POST',
                headers: { ...headers, 'content-type': 'application/json' },
                body: '{"command":"ls"}',
              })
            : await send('/list/x', { headers });
      checkHttp(o, what);
    } catch (error) {
      failures.push(`${what}: ${String(error)} (${String((error as Error).cause)})`);
    }
  };
  // Memory is compared after a warm-up (code paths compiled on first use, connection pools):
  // what the remaining 90 % of the run adds must stay small, whatever the pods answered.
  const warmup = HTTP_RUNS / 10;
  await pool(httpCases.slice(0, warmup), 16, runHttp);
  const heapAtStart = heapMiB();
  await pool(httpCases.slice(warmup), 16, runHttp);
  const heapAfterHttp = heapMiB();

  // The agent's gRPC, behind each surface that calls it.
  const grpcCases = fc
    .sample(fc.tuple(grpcScript, grpcRoute), { numRuns: GRPC_RUNS, seed: SEED + 1 })
    .map(([script, route], i) => ({ script, route, traceId: (i + 1).toString(16).padStart(32, '0') }));
  const v1 = (op: string): string => `/v1/namespaces/default/sandboxes/hostile-grpc/${op}`;
  const checkV1 = (o: Outcome, what: string, exec: boolean): void => {
    const code = o.headers.get('x-sandbank-error-code');
    count(`grpc ${o.status}${code ? ` ${code}` : ''}`);
    if (o.status < 200 || o.status > 599) failures.push(`${what}: status ${o.status}`);
    if (code === 'internal') failures.push(`${what}: internal (${o.body ?? ''})`);
    if (exec && o.status === 200 && o.body !== undefined) {
      const result = JSON.parse(o.body) as { stdout: string; stderr: string };
      if (result.stdout.length > DEFAULT_BUFFERED_OUTPUT_BYTES) failures.push(`${what}: stdout over the cap`);
    }
  };
  await pool(grpcCases, 16, async ({ script, route, traceId }) => {
    // The first agent call of the request gets the script; any further call (a legacy /list's
    // Stat calls) gets the agent's plain failure.
    hostileGrpc.pushFor(traceId, script);
    const traceparent = `00-${traceId}-00000000000000a1-01`;
    const shown = JSON.stringify(script, (_k, v: unknown) => (v instanceof Uint8Array ? '<bytes>' : v));
    const legacy = { 'x-sandbox-id': 'hostile-grpc', traceparent };
    // Asked once the request is over. A script not served: the request failed before its agent
    // call, or that call failed with the connection another request's script ended (the router
    // shares one channel per pod).
    const what = (): string =>
      `${route} (trace ${traceId}) ${shown.slice(0, 300)}${hostileGrpc.servedTrace(traceId) ? '' : ' (script not served)'}`;
    const traced = (path: string, init: Send): Promise<Outcome> =>
      send(path, { ...init, headers: { ...init.headers, traceparent } });
    try {
      switch (route) {
        case 'exec':
          checkV1(
            await traced(v1('exec'), {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: '{"shell":"x"}',
            }),
            what(),
            true,
          );
          return;
        case 'stat':
          checkV1(await traced(v1('stat?path=x'), { headers: {} }), what(), false);
          return;
        case 'list':
          checkV1(await traced(v1('list?path=x'), { headers: {} }), what(), false);
          return;
        case 'execute':
          checkV1(
            await traced('/execute', {
              method: 'POST',
              headers: { ...legacy, 'content-type': 'application/json' },
              body: '{"command":"ls"}',
            }),
            what(),
            false,
          );
          return;
        case 'legacy-list':
          checkV1(await traced('/list/x', { headers: legacy }), what(), false);
          return;
        case 'download':
          checkV1(await traced(v1('files/x'), { headers: {} }), what(), false);
          return;
        case 'legacy-download':
          checkV1(await traced('/download/x', { headers: legacy }), what(), false);
          return;
        case 'ws': {
          const ws = await openExec(`${router.wsUrl}${v1('exec')}`, {
            'x-sandbox-timeout': '3',
            traceparent,
          });
          ws.ws.send(JSON.stringify({ type: 'start', command: ['x'], stdin: true }));
          const timer = setTimeout(() => ws.ws.terminate(), HANG_MS);
          const { code, reason } = await ws.closed;
          clearTimeout(timer);
          count(`ws ${code}`);
          // 1011: the router's own failure (internal); 1006: no close frame at all (a hang cut above).
          if (code === 1011 || code === 1006) failures.push(`${what()}: WebSocket closed ${code} ${reason}`);
          return;
        }
        case 'run':
        case 'pt-stat': {
          const md = new Metadata();
          md.set('x-sandbox-id', 'hostile-grpc');
          md.set('traceparent', traceparent);
          const options = { metadata: md, deadline: Date.now() + 3_000 };
          const call =
            route === 'run'
              ? passthrough.run({ process: { command: { case: 'shell', value: 'x' } } }, options)
              : passthrough.stat({ path: 'x' }, options);
          const error = await call.then(
            () => undefined,
            (e: unknown) => e,
          );
          const code =
            error instanceof Error && 'metadata' in error && error.metadata instanceof Metadata
              ? error.metadata.get('sandbank-error-code')[0]
              : undefined;
          count(`passthrough ${error === undefined ? 'ok' : String((error as { code?: unknown }).code)}`);
          if (code === 'internal') failures.push(`${what()}: internal`);
        }
      }
    } catch (error) {
      failures.push(`${what()}: ${String(error)} (${String((error as Error).cause)})`);
    }
  });
  const heapAtEnd = heapMiB();

  running = false;
  await tenant;
  session.ws.send(JSON.stringify({ type: 'close_stdin' }));
  const exit = await session.waitForText((f) => f['type'] === 'exit');
  const expected = Array.from({ length: echoes }, (_, i) => `line-${i}\n`).join('');

  const served = { http: hostileHttp.served, grpc: hostileGrpc.served };
  console.info(
    `hostile upstream fuzz: ${served.http} raw HTTP answers (of ${HTTP_RUNS} scripts) and ${served.grpc} raw gRPC answers (of ${GRPC_RUNS} scripts); ` +
      `the other tenant: ${goodExecs} execs, ${echoes} WebSocket echoes; heap ${heapAtStart.toFixed(1)} → ${heapAfterHttp.toFixed(1)} → ${heapAtEnd.toFixed(1)} MiB; ` +
      `outcomes ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`,
  );
  expect({ seed: SEED, failures: failures.slice(0, 20) }).toEqual({ seed: SEED, failures: [] });
  // A script is served when its request reaches the hostile pod (most do; some find the
  // connection already broken by the one before, or the router refusing first).
  expect(served.http + served.grpc).toBeGreaterThanOrEqual(1_000);
  expect(session.stdout()).toBe(expected);
  expect(exit).toMatchObject({ exitCode: 0 });
  expect(goodExecs).toBeGreaterThan(0);
  expect(heapAtEnd - heapAtStart).toBeLessThan(32);
  expect((await fetch(`${router.url}/healthz`)).status).toBe(200);
});
