/**
 * Generated bad input on WebSocket exec: sessions that start a real process and then send stdin
 * (binary and text), control frames with any values, malformed JSON, frames over the size limit
 * and unknown types, sessions whose first frame is already wrong, odd upgrade requests, and
 * clients that vanish mid-session. Most sessions ride in-memory connections into the router's
 * real HTTP server; a share uses real sockets. Every frame a client sends counts as an input.
 * Properties: the router never crashes or hangs a session, never closes one as its own failure
 * (1011, 45xx) or without a close frame (1006) because of what a client sent, its heap stays
 * bounded, every session is released, and a session opened before the run (`cat`) keeps echoing.
 */
import fc from 'fast-check';
import WebSocket from 'ws';
import { ALL_NAMESPACES, tokenAuthenticator } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import {
  Canary,
  heapMiB,
  inMemoryWebSocket,
  nothingInFlight,
  pool,
  settledMetrics,
} from '../helpers/fuzz.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

const SESSIONS = Number(process.env['FUZZ_WS_SESSIONS'] ?? 1_400);
/** Every this many sessions, one goes over a real socket. */
const REAL_SOCKET_EVERY = 6;
const TOKEN = 'fuzz-token-0123456789abcdef';
const MAX_MESSAGE = 64 * 1024;
const HANG_MS = 60_000;
const CONCURRENCY = 16;
const SAFE_PROGRAMS = [['cat'], ['true'], ['echo', 'fuzz'], ['ls'], ['printf', '%s', 'x']];

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
    limits: { requestTimeoutMs: 20_000, maxStreamsPerCaller: 10_000, wsMaxMessageBytes: MAX_MESSAGE },
  });
});

afterAll(async () => {
  await router?.close();
  await agent?.close();
});

type Frame = { readonly text: string } | { readonly binary: Buffer };

const text = (value: unknown): Frame => ({ text: JSON.stringify(value) });
/** A start frame a client would send, then sometimes one field replaced by a value it should not. */
const startFrame = fc
  .tuple(
    fc.record(
      {
        command: fc.oneof(
          { weight: 4, arbitrary: fc.constant(['cat']) },
          { weight: 1, arbitrary: fc.constantFrom(...SAFE_PROGRAMS) },
        ),
        stdin: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.boolean() }),
        env: fc.dictionary(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,8}$/), fc.string({ maxLength: 8 }), {
          maxKeys: 2,
        }),
        cwd: fc.constantFrom('.', 'a', ''),
        timeoutMs: fc.integer({ min: 1_000, max: 10_000 }),
        maxOutputBytes: fc.integer({ min: 1, max: 1 << 20 }),
      },
      { requiredKeys: ['command', 'stdin'] },
    ),
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      fc.oneof(
        fc.tuple(
          fc.constant('env'),
          fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string(), fc.integer())),
        ),
        fc.tuple(fc.constant('cwd'), fc.constantFrom('..', '/etc', '\u0000', '~', 'a/../..', 7)),
        fc.tuple(fc.constant('timeoutMs'), fc.constantFrom(0, -1, 1, 1e12, 0.5, 'soon')),
        fc.tuple(fc.constant('maxOutputBytes'), fc.constantFrom(0, -1, 1e20, 2 ** 53, 'all')),
        fc.tuple(fc.constant('command'), fc.constantFrom([], '', 'cat', [7], null)),
        fc.tuple(fc.constant('shell'), fc.constantFrom('true', 7)),
        fc.tuple(fc.constant('tty'), fc.constantFrom({ cols: 80, rows: 24 }, { cols: 0 }, 'yes')),
        fc.tuple(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })),
      ),
    ),
  )
  .map(([f, change]) =>
    text(change === undefined ? { type: 'start', ...f } : { type: 'start', ...f, [change[0]]: change[1] }),
  );

/**
 * Frames for a live session: mostly stdin, about one in twenty anything (control frames with any
 * values, malformed text, a frame over the size limit), so that many sessions live a while.
 */
const liveFrame: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 60, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => ({ binary: Buffer.from(b) })) },
  { weight: 30, arbitrary: fc.string({ maxLength: 100 }).map((data) => text({ type: 'stdin', data })) },
  {
    weight: 2,
    arbitrary: fc
      .record(
        {
          type: fc.constantFrom('stdin', 'close_stdin', 'signal', 'resize', 'start', 'bogus', ''),
          data: fc.oneof(fc.string({ maxLength: 10 }), fc.integer()),
          signal: fc.constantFrom('SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL', 'SIGSTOP', 9, ''),
          cols: fc.oneof(fc.integer(), fc.double()),
          rows: fc.integer({ min: -5, max: 20_000 }),
          extra: fc.jsonValue({ maxDepth: 2 }),
        },
        { requiredKeys: ['type'] },
      )
      .map((f) => text(f)),
  },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.string({ maxLength: 200 }).map((t) => ({ text: t })),
      fc
        .constantFrom('{', '[]', 'null', '"start"', '{"type":null}', '{"type":"stdin"}')
        .map((t) => ({ text: t })),
    ),
  },
  {
    weight: 1,
    // Over the router's message limit: ws closes such a session with 1009.
    arbitrary: fc
      .tuple(fc.boolean(), fc.integer({ min: 1, max: 2_000 }))
      .map(([binary, over]): Frame =>
        binary ? { binary: Buffer.alloc(MAX_MESSAGE + over, 7) } : { text: 'x'.repeat(MAX_MESSAGE + over) },
      ),
  },
);
const anyFrame: fc.Arbitrary<Frame> = fc.oneof(liveFrame, startFrame);

const session = fc.record({
  frames: fc.oneof(
    {
      weight: 8,
      arbitrary: fc
        .tuple(startFrame, fc.array(liveFrame, { minLength: 10, maxLength: 40 }), fc.boolean())
        .map(([start, frames, close]) => [
          start,
          ...frames,
          ...(close ? [text({ type: 'close_stdin' })] : []),
        ]),
    },
    { weight: 2, arbitrary: fc.array(anyFrame, { minLength: 1, maxLength: 10 }) },
  ),
  // The upgrade request: mostly right, sometimes not.
  path: fc.oneof(
    { weight: 12, arbitrary: fc.constant('/v1/namespaces/default/sandboxes/sb/exec') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '/v1/namespaces/ns1/sandboxes/sb/exec',
        '/v1/namespaces/default/sandboxes/missing/exec',
        '/v1/namespaces/Bad_NS/sandboxes/sb/exec',
        '/v1/namespaces/default/sandboxes/sb/exec?x=%zz',
        '/v1/namespaces/default/sandboxes/sb/stat',
        '/execute',
        '/',
      ),
    },
  ),
  protocol: fc.oneof(
    { weight: 12, arbitrary: fc.constant('sandbank.exec.v1') },
    { weight: 1, arbitrary: fc.constantFrom('other', 'sandbank.exec.v2') },
  ),
  authorization: fc.oneof(
    { weight: 12, arbitrary: fc.constant(`Bearer ${TOKEN}`) },
    { weight: 1, arbitrary: fc.constantFrom('', 'Bearer wrong', 'Basic Zm9vOmJhcg==') },
  ),
  // How the client leaves: politely after a pause, at once, or by dropping the connection.
  leave: fc.oneof(
    { weight: 6, arbitrary: fc.constant({ kind: 'close' as const, afterMs: 50 }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'close' as const, afterMs: 0 }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 0, max: 30 }).map((ms) => ({ kind: 'terminate' as const, afterMs: ms })),
    },
  ),
});
type Session = typeof session extends fc.Arbitrary<infer T> ? T : never;

interface SessionOutcome {
  readonly sent: number;
  readonly closeCode: number | undefined;
  readonly upgradeStatus: number | undefined;
  readonly terminated: boolean;
  readonly hung: boolean;
  readonly error: string | undefined;
  /** The last text frame the router sent (its error frame, when it failed the session). */
  readonly lastText: string | undefined;
}

function runSession(s: Session, real: boolean): Promise<SessionOutcome> {
  return new Promise<SessionOutcome>((resolve) => {
    const options = { headers: s.authorization === '' ? {} : { authorization: s.authorization } };
    const ws = real
      ? new WebSocket(`${router.wsUrl}${s.path}`, s.protocol, options)
      : inMemoryWebSocket(router.app.server, `ws://router.test${s.path}`, s.protocol, options);
    let sent = 0;
    let terminated = false;
    let error: string | undefined;
    let upgradeStatus: number | undefined;
    let lastText: string | undefined;
    let done = false;
    const finish = (closeCode: number | undefined, hung = false): void => {
      if (done) return;
      done = true;
      clearTimeout(hang);
      resolve({ sent, closeCode, upgradeStatus, terminated, hung, error, lastText });
    };
    const hang = setTimeout(() => {
      ws.terminate();
      finish(undefined, true);
    }, HANG_MS);
    ws.on('open', () => {
      for (const f of s.frames) {
        if (ws.readyState !== WebSocket.OPEN) break;
        ws.send('text' in f ? f.text : f.binary);
        sent++;
      }
      setTimeout(() => {
        if (s.leave.kind === 'terminate') {
          terminated = true;
          ws.terminate();
        } else if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      }, s.leave.afterMs);
    });
    ws.on('unexpected-response', (_req, res) => {
      upgradeStatus = res.statusCode;
      res.resume();
      finish(undefined);
    });
    ws.on('error', (e) => (error ??= e.message));
    ws.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) lastText = data.toString('utf8').slice(0, 200);
    });
    ws.on('close', (code) => finish(code));
  });
}

test(`fuzz: ${SESSIONS} WebSocket exec sessions`, async () => {
  const started = Date.now();
  const canary = new Canary(`${router.wsUrl}/v1/namespaces/default/sandboxes/sb/exec`, {
    authorization: `Bearer ${TOKEN}`,
  });
  await canary.start();
  const sessions = fc.sample(session, { numRuns: SESSIONS, seed: 20261208 });
  const closeCodes = new Map<string, number>();
  const reasons = new Map<string, number>();
  const failures: string[] = [];
  let frames = 0;
  let realSessions = 0;
  let pokes = 0;
  let canaryMissed = 0;
  const seen = { upgrades: 0 };
  router.app.server.on('upgrade', () => seen.upgrades++);

  const run = async (s: Session, i: number): Promise<void> => {
    const real = i % REAL_SOCKET_EVERY === 0;
    if (real) realSessions++;
    const o = await runSession(s, real);
    frames += o.sent;
    const key =
      o.upgradeStatus !== undefined ? `upgrade ${o.upgradeStatus}` : `close ${o.closeCode ?? 'none'}`;
    closeCodes.set(key, (closeCodes.get(key) ?? 0) + 1);
    const what =
      `${real ? 'socket' : 'in memory'} ${s.path} leave ${JSON.stringify(s.leave)}; client error ${o.error ?? 'none'}; ` +
      `last text ${o.lastText ?? 'none'}; frames ${JSON.stringify(s.frames.map((f) => ('text' in f ? f.text.slice(0, 80) : `<${f.binary.length} bytes>`)))}`;
    if (o.hung) failures.push(`session hung for ${HANG_MS} ms: ${what}`);
    if (o.upgradeStatus !== undefined && o.upgradeStatus >= 500)
      failures.push(`upgrade → ${o.upgradeStatus}: ${what}`);
    const code = o.closeCode;
    // 4501 is the sandbox declining a feature it lacks (a tty), not a failure.
    if (code === 1011 || (code !== undefined && code >= 4500 && code < 4600 && code !== 4501))
      failures.push(`closed ${code} (the router's failure): ${what}`);
    // ws (the client) drops a connection whose upgrade answer names no subprotocol when it asked
    // for one: the router accepts upgrades for subprotocols it does not speak without naming one.
    const refusedByClient = o.error === 'Server sent no subprotocol' && s.protocol !== 'sandbank.exec.v1';
    if (code === 1006 && !o.terminated && !refusedByClient)
      failures.push(`closed 1006 without a close frame: ${what}`);
    if (code !== undefined && code >= 4000) {
      const why = `${code} ${/"message":"([^"]{0,50})/.exec(o.lastText ?? '')?.[1] ?? ''}`.replace(
        /\d+/g,
        '#',
      );
      reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
    if (i % 100 === 0) {
      pokes++;
      if (!(await canary.poke(`poke ${i}`, HANG_MS))) canaryMissed++;
    }
  };
  const warmup = Math.floor(SESSIONS / 10);
  await pool(sessions.slice(0, warmup), CONCURRENCY, run);
  const heapBefore = heapMiB();
  await pool(sessions.slice(warmup), CONCURRENCY, (s, i) => run(s, i + warmup));

  const canaryEnd = await canary.finish();
  const heapAfter = heapMiB();
  const metricsText = await settledMetrics(() => router.app.metrics.registry.metrics(), nothingInFlight);
  process.stdout.write(
    `fuzz-ws: ${frames} frames in ${SESSIONS} sessions (${realSessions} over real sockets, the rest in memory) ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)} s; endings ${JSON.stringify(Object.fromEntries([...closeCodes].sort()))}; ` +
      `most frequent refusals ${JSON.stringify([...reasons].sort((a, b) => b[1] - a[1]).slice(0, 12))}; ` +
      `canary ${pokes} pokes, ${canaryMissed} missed, ${JSON.stringify(canaryEnd)}; ` +
      `heap after warm-up ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB; ${failures.length} failures\n`,
  );
  expect(failures.slice(0, 20)).toEqual([]);
  // Sessions carried many frames each (most start a process and then send 10 to 40).
  expect(frames).toBeGreaterThan(SESSIONS * 10);
  // Every session reached the router's upgrade handler.
  expect(seen.upgrades).toBe(SESSIONS);
  expect({ canaryMissed, ...canaryEnd }).toEqual({
    canaryMissed: 0,
    intact: true,
    exitCode: 0,
    closeCode: 1000,
  });
  expect(heapAfter - heapBefore).toBeLessThan(48);
  expect(metricsText).toMatch(/sandbank_router_websocket_sessions 0/);
  expect(metricsText).not.toMatch(/sandbank_router_inflight_requests\{[^}]*\} [1-9]/);
}, 1_200_000);
