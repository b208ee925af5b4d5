/**
 * Generated bad input on the gRPC passthrough: calls on random and real method paths, with random
 * metadata (routing keys, credentials, deadlines, encodings, binary entries), valid, random,
 * truncated, mis-framed, compressed-flagged and oversized messages, and cancels at any point,
 * sent as raw HTTP/2 streams over real TCP connections (and some whole connections cut mid-call).
 * Properties: the router never crashes or hangs a call, never answers a router-side failure
 * (UNKNOWN, INTERNAL, UNAVAILABLE, DATA_LOSS, or an HTTP 5xx) to what a client sent, its heap
 * stays bounded, every stream is released, and a session started before the run (a `cat` over
 * gRPC Exec) keeps echoing throughout.
 *
 * What is executed is confined to a harmless set: Exec and Run get structured messages whose
 * programs come from that set, and random bytes only when they do not decode as a request at
 * all; the file methods get anything.
 */
import { connect as http2Connect, constants as h2 } from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { credentials, Metadata } from '@grpc/grpc-js';
import fc from 'fast-check';
import { ExecServiceDefinition, FileServiceDefinition, Signal, createAgentClient } from '@sandbank/proto';
import { FuzzTarget, nothingInFlight, pool, settledMetrics, settlesWithin } from '../helpers/fuzz.js';

const CALLS = Number(process.env.FUZZ_CALLS ?? 12_000);
/** Of which this many ride a connection that is cut (destroyed) while they are in flight. */
const CUT_CONNECTIONS = 60;
const CALLS_PER_CUT = 5;
const TOKEN = 'fuzz-token-0123456789abcdef';
const MAX_MESSAGE = 64 * 1024;
const HANG_MS = 60_000;
const CONCURRENCY = 32;

const exec = ExecServiceDefinition;
const files = FileServiceDefinition;
const SAFE_PROGRAMS = [['true'], ['echo', 'fuzz'], ['cat'], ['ls'], ['printf', '%s', 'x']];
/** Codes that mean the server failed, not the caller. */
const SERVER_FAULT = new Set([2, 13, 14, 15]);
/**
 * INTERNAL answers that are grpc-js's own protocol answers to a malformed request, not a failure
 * of the router's code: in the router's server (a grpc-timeout it cannot parse, a message flagged
 * compressed that does not decompress) or in the agent's, relayed unchanged (bytes that do not
 * decode as the method's request; the router relays bytes without decoding them).
 */
const PROTOCOL_ANSWERS = [
  /^Invalid grpc-timeout value/,
  /^Failed to decompress message/,
  /^Error deserializing request/,
];

let router: FuzzTarget;

beforeAll(async () => {
  router = await FuzzTarget.start({
    token: TOKEN,
    agentIp: '127.0.0.5',
    limits: { requestTimeoutMs: 20_000, maxStreamsPerCaller: 10_000, wsMaxMessageBytes: MAX_MESSAGE },
    // Healthy, it peaks near 300 MiB resident on a loaded 2-core machine (the heap cap makes V8
    // collect before it grows far): a cap of 5x that still stops a runaway well before the machine.
    maxHeapMiB: 512,
    maxRssMiB: 1_536,
  });
}, 120_000);

afterAll(async () => {
  await router?.close();
});

// ---- messages -------------------------------------------------------------------------------

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length, bytes. */
const framed = (payload: Buffer, opts: { compressed?: boolean; declared?: number } = {}): Buffer => {
  const head = Buffer.alloc(5);
  head[0] = opts.compressed ? 1 : 0;
  head.writeUInt32BE(opts.declared ?? payload.length, 1);
  return Buffer.concat([head, payload]);
};

const pathPiece = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', 'x.txt', 'dir', 'sub', '.') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('..', '', '/', '//', 'é', '\u0000', '/etc/passwd', '~', '*', '%2e%2e'),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
const fsPath = fc.array(pathPiece, { maxLength: 5 }).map((parts) => parts.join('/'));
const uint = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 100_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 1) },
);
/** Mostly modes a client would send, sometimes any number. */
const mode = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0o644, 0o600, 0o755, 0o700) },
  { weight: 1, arbitrary: uint },
);
const processSpec = fc.record(
  {
    command: fc.oneof(
      fc.constantFrom(...SAFE_PROGRAMS).map((args) => ({ case: 'argv' as const, value: { args } })),
      fc.constantFrom('true', 'echo fuzz', 'cat').map((s) => ({ case: 'shell' as const, value: s })),
    ),
    env: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
    cwd: fsPath,
    // Always bounded, so nothing waits long on a stdin nobody closes.
    timeoutMs: fc.integer({ min: 1, max: 5_000 }),
  },
  { requiredKeys: ['command', 'timeoutMs'] },
);

type ExecFrame = Parameters<typeof exec.exec.requestSerialize>[0];
const execStart = fc
  .record({
    process: processSpec,
    stdin: fc.boolean(),
    // The agent has no tty: asking for one is refused, which a few calls should see.
    tty: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.record({ cols: uint, rows: uint }) },
    ),
  })
  .map(({ tty, ...start }): ExecFrame => ({
    frame: { case: 'start', value: tty === undefined ? start : { ...start, tty } },
  }));
const execFrame: fc.Arbitrary<ExecFrame> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .uint8Array({ maxLength: 256 })
      .map((b): ExecFrame => ({ frame: { case: 'stdin', value: b } })),
  },
  { weight: 1, arbitrary: fc.constant<ExecFrame>({ frame: { case: 'closeStdin', value: {} } }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(Signal.UNSPECIFIED, Signal.HUP, Signal.INT, Signal.KILL, Signal.TERM)
      .map((sig): ExecFrame => ({ frame: { case: 'signal', value: sig } })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ cols: uint, rows: uint })
      .map((r): ExecFrame => ({ frame: { case: 'resize', value: r } })),
  },
  { weight: 1, arbitrary: execStart },
);
type WriteFrame = Parameters<typeof files.writeFile.requestSerialize>[0];
const writeHeader = fc
  .record(
    { path: fsPath, mode, createParents: fc.boolean(), exclusive: fc.boolean() },
    { requiredKeys: ['path', 'exclusive'] },
  )
  .map((h): WriteFrame => ({ frame: { case: 'header', value: h } }));
const writeData = fc
  .uint8Array({ maxLength: 512 })
  .map((b): WriteFrame => ({ frame: { case: 'data', value: b } }));

const statMessages = fsPath.map((path) => [files.stat.requestSerialize({ path })]);

/**
 * A valid request stream per method, as the real serializers encode it: one message for the
 * unary and server-streaming methods, a start or header then frames for the streaming ones.
 */
const validMessages: Record<string, fc.Arbitrary<Buffer[]>> = {
  [exec.run.path]: fc
    .record(
      { process: processSpec, stdin: fc.uint8Array({ maxLength: 64 }), maxOutputBytes: uint.map(BigInt) },
      { requiredKeys: ['process', 'stdin'] },
    )
    .map((m) => [exec.run.requestSerialize(m)]),
  [exec.exec.path]: fc
    .tuple(execStart, fc.array(execFrame, { maxLength: 6 }), fc.boolean())
    .map(([start, frames, close]) =>
      [start, ...frames, ...(close ? [{ frame: { case: 'closeStdin' as const, value: {} } }] : [])].map((f) =>
        exec.exec.requestSerialize(f),
      ),
    ),
  [files.readFile.path]: fc
    .record(
      { path: fsPath, offset: uint.map(BigInt), limit: uint.map(BigInt), chunkSize: uint },
      { requiredKeys: ['path', 'offset', 'chunkSize'] },
    )
    .map((m) => [files.readFile.requestSerialize(m)]),
  [files.writeFile.path]: fc
    .tuple(
      writeHeader,
      fc.array(fc.oneof({ weight: 5, arbitrary: writeData }, { weight: 1, arbitrary: writeHeader }), {
        maxLength: 5,
      }),
    )
    .map(([header, data]) => [header, ...data].map((f) => files.writeFile.requestSerialize(f))),
  [files.listDir.path]: fsPath.map((path) => [files.listDir.requestSerialize({ path })]),
  [files.stat.path]: statMessages,
  [files.remove.path]: fc
    .record({ path: fsPath, recursive: fc.boolean() })
    .map((m) => [files.remove.requestSerialize(m)]),
  [files.makeDir.path]: fc
    .record({ path: fsPath, parents: fc.boolean(), mode }, { requiredKeys: ['path', 'parents'] })
    .map((m) => [files.makeDir.requestSerialize(m)]),
};
const REAL_PATHS = Object.keys(validMessages);
const EXECUTING = new Set([exec.run.path, exec.exec.path]);

/** Random bytes a method may receive: for the executing methods, only bytes that do not decode. */
function randomPayloadFor(path: string, bytes: Buffer): Buffer | undefined {
  if (!EXECUTING.has(path)) return bytes;
  const decode = path === exec.run.path ? exec.run.requestDeserialize : exec.exec.requestDeserialize;
  try {
    decode(bytes);
    return undefined;
  } catch {
    return bytes;
  }
}

const methodPath = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...REAL_PATHS) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constantFrom(
        '/',
        '/sandbank.agent.v1.ExecService/',
        '/sandbank.agent.v1.ExecService/run',
        '/sandbank.agent.v1.FileService/Stat/extra',
        '/grpc.health.v1.Health/Check',
        '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
        '//sandbank.agent.v1.FileService/Stat',
        '/sandbank.agent.v1.FileService/Stat?x=1',
      ),
      fc.string({ minLength: 1, maxLength: 60 }).map((s) => `/${encodeURIComponent(s)}`),
    ),
  },
);

const printable = (max: number): fc.Arbitrary<string> =>
  fc.string({ maxLength: max }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));
/** What a well-behaved caller sends; each call then changes a few entries (`mutation`). */
const GOOD_METADATA: Readonly<Record<string, string>> = {
  'x-sandbox-id': 'sb',
  authorization: `Bearer ${TOKEN}`,
  'content-type': 'application/grpc',
};
const mutation: fc.Arbitrary<readonly [string, string | undefined]> = fc.oneof(
  fc.tuple(
    fc.constant('x-sandbox-id'),
    fc.oneof(fc.constantFrom('missing', '', 'SB', 'sb/..', 'a'.repeat(64), undefined), printable(70)),
  ),
  fc.tuple(
    fc.constant('x-sandbox-namespace'),
    fc.oneof(fc.constantFrom('default', 'ns1', 'other', ''), printable(70)),
  ),
  fc.tuple(
    fc.constant('authorization'),
    fc.oneof(
      fc.constantFrom('Bearer wrong', 'Basic Zm9vOmJhcg==', '', 'Bearer ', undefined),
      fc.string({ maxLength: 40 }).map((t) => `Bearer ${t.replace(/[^\x21-\x7e]/g, '')}`),
    ),
  ),
  fc.tuple(
    fc.constant('grpc-timeout'),
    fc.oneof(
      fc.constantFrom('1n', '0S', '10S', '99999999H', '1m', '-1S', '100000000S', '5S', '200m'),
      printable(10),
    ),
  ),
  fc.tuple(fc.constant('grpc-encoding'), fc.constantFrom('identity', 'gzip', 'deflate', 'br', 'bogus')),
  fc.tuple(fc.constant('grpc-accept-encoding'), fc.constantFrom('identity', 'gzip', 'x')),
  fc.tuple(
    fc.constant('content-type'),
    fc.constantFrom(
      'application/grpc+proto',
      'application/grpc+json',
      'application/json',
      'text/plain',
      undefined,
    ),
  ),
  fc.tuple(fc.constant('user-agent'), printable(30)),
  fc.tuple(
    fc.constant('x-extra-bin'),
    fc.oneof(
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64')),
      printable(20),
    ),
  ),
  fc.tuple(
    fc.constant('traceparent'),
    fc.oneof(fc.constant('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), printable(60)),
  ),
  // Entries with random names (lowercase tokens, as HTTP/2 requires) and long values.
  fc.tuple(
    fc.stringMatching(/^[a-z][a-z0-9_.-]{0,20}$/),
    fc.oneof(printable(50), fc.constant('v'.repeat(8_000))),
  ),
);
const metadata = fc
  .oneof(
    { weight: 2, arbitrary: fc.constant([]) },
    { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) },
  )
  .map((changes) => {
    const out = new Map(Object.entries(GOOD_METADATA));
    for (const [key, value] of changes) {
      if (value === undefined) out.delete(key);
      else out.set(key, value);
    }
    return Object.fromEntries(out);
  });

/**
 * A message on the wire that is not what the method expects, framed unless noted: random bytes,
 * a truncated valid one, one declaring more than it carries, one over the size limit, one flagged
 * compressed, or a few bytes that are not a frame at all. Undefined: nothing (random bytes that an
 * executing method must not get).
 */
const badMessageFor = (path: string, valid: fc.Arbitrary<Buffer[]>): fc.Arbitrary<Buffer | undefined> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => {
        const bytes = randomPayloadFor(path, Buffer.from(b));
        return bytes === undefined ? undefined : framed(bytes);
      }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.integer({ min: 1, max: 5 })).map(([ms, cut]) => {
        const whole = framed(ms[0] ?? Buffer.alloc(0));
        return whole.subarray(0, Math.max(1, whole.length - cut));
      }),
    },
    { weight: 1, arbitrary: fc.constant(framed(Buffer.from('short'), { declared: 0xffffffff })) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 4_000 }).map((n) => framed(Buffer.alloc(MAX_MESSAGE + n, 0x41))),
    },
    { weight: 1, arbitrary: valid.map((ms) => framed(ms[0] ?? Buffer.alloc(0), { compressed: true })) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => Buffer.from(b)) },
  );

const STREAMING_REQUESTS = new Set([exec.exec.path, files.writeFile.path]);

/**
 * The request stream of a call. Mostly valid; else one with a bad message in it (in place of the
 * only one, for a method that takes one), none at all, or twice the valid one.
 */
const messagesFor = (path: string): fc.Arbitrary<Buffer[]> => {
  // Paths that are no method get what Stat takes.
  const valid = validMessages[path] ?? statMessages;
  const asFrames = valid.map((ms) => ms.map((m) => framed(m)));
  const withBad = STREAMING_REQUESTS.has(path)
    ? fc
        .tuple(
          asFrames,
          fc.array(fc.tuple(fc.nat(), badMessageFor(path, valid)), { minLength: 1, maxLength: 2 }),
        )
        .map(([frames, bad]) => {
          const out = [...frames];
          for (const [at, b] of bad) if (b !== undefined) out.splice(at % (out.length + 1), 0, b);
          return out;
        })
    : badMessageFor(path, valid).map((b) => (b === undefined ? [] : [b]));
  return fc.oneof(
    { weight: 12, arbitrary: asFrames },
    { weight: 6, arbitrary: withBad },
    { weight: 1, arbitrary: fc.constant<Buffer[]>([]) },
    { weight: 1, arbitrary: asFrames.map((frames) => [...frames, ...frames]) },
  );
};

const callShape = fc.record({ path: methodPath, metadata }).chain((head) =>
  fc.record({
    path: fc.constant(head.path),
    metadata: fc.constant(head.metadata),
    messages: messagesFor(head.path),
    // What the caller does after its messages: end its half, cancel, or cancel later.
    ending: fc.oneof(
      { weight: 8, arbitrary: fc.constant({ kind: 'end' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'cancel-now' as const }) },
      {
        weight: 2,
        arbitrary: fc.integer({ min: 1, max: 200 }).map((ms) => ({ kind: 'cancel-after' as const, ms })),
      },
    ),
  }),
);
type CallShape = typeof callShape extends fc.Arbitrary<infer T> ? T : never;

/** A call in a line: path, ending, metadata, and each message's size and first bytes. */
const describe = (c: CallShape): string =>
  `${c.path} ${JSON.stringify(c.ending)} ${JSON.stringify(c.metadata)} ` +
  c.messages.map((m) => `${m.length}:${m.subarray(0, 8).toString('hex')}`).join(',');

const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

// ---- the raw HTTP/2 client -------------------------------------------------------------------

interface Outcome {
  /** grpc-status, or -1 when the stream ended without one (a cancel, a reset, a cut connection). */
  readonly grpcStatus: number;
  readonly httpStatus: number;
  /** The router's own error code (trailer `sandbank-error-code`), when the failure is the router's. */
  readonly routerCode: string | undefined;
  /** grpc-message, as sent. */
  readonly details: string;
  readonly hung: boolean;
  /** http2 refused to send the headers (e.g. a connection-specific header). */
  readonly refusedByClient: boolean;
}

function statusFrom(headers: IncomingHttpHeaders): { grpc?: number; code?: string; details?: string } {
  const g = headers['grpc-status'];
  const c = headers['sandbank-error-code'];
  const m = headers['grpc-message'];
  return {
    ...(g === undefined ? {} : { grpc: Number(g) }),
    ...(typeof c === 'string' ? { code: c } : {}),
    ...(typeof m === 'string' ? { details: m } : {}),
  };
}

/**
 * Node's HTTP/2 client keeps a stream open after `close()` while its own request bytes wait on
 * flow control, which a server that answered without reading them never grants: such a stream is
 * destroyed (a reset) after this long, whether the caller cancelled it or already has its answer.
 */
const STUCK_MS = 2_000;

function call(session: ClientHttp2Session, shape: CallShape): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    let grpcStatus = -1;
    let httpStatus = 0;
    let routerCode: string | undefined;
    let details = '';
    let answered = false;
    let stream: ClientHttp2Stream | undefined;
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const later = (ms: number, f: () => void): void => void timers.push(setTimeout(f, ms));
    const finish = (hung: boolean, refusedByClient = false): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      if (stream !== undefined && !stream.closed) stream.destroy();
      resolve({ grpcStatus, httpStatus, routerCode, details, hung, refusedByClient });
    };
    // An unanswered call that is still open after HANG_MS hung (the router's deadline is 20 s).
    later(HANG_MS, () => finish(!answered));
    try {
      stream = session.request({ ':method': 'POST', ':path': shape.path, te: 'trailers', ...shape.metadata });
    } catch {
      finish(false, true);
      return;
    }
    const s = stream;
    const take = (headers: IncomingHttpHeaders): void => {
      const status = statusFrom(headers);
      if (status.grpc !== undefined) grpcStatus = status.grpc;
      if (status.code !== undefined) routerCode = status.code;
      if (status.details !== undefined) details = status.details;
      if (status.grpc !== undefined || httpStatus !== 200) {
        answered = true;
        later(STUCK_MS, () => finish(false));
      }
    };
    s.on('response', (headers) => {
      httpStatus = headers[':status'] ?? 0;
      take(headers);
    });
    s.on('trailers', take);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => finish(false));
    for (const chunk of shape.messages) s.write(chunk);
    const cancel = (): void => {
      s.close(h2.NGHTTP2_CANCEL);
      later(STUCK_MS, () => finish(false));
    };
    switch (shape.ending.kind) {
      case 'end':
        s.end();
        break;
      case 'cancel-now':
        cancel();
        break;
      case 'cancel-after':
        // Ends its half first (a unary call needs that to start), then gives up.
        s.end();
        later(shape.ending.ms, cancel);
        break;
    }
  });
}

// ---- the canary: a gRPC Exec session opened before the run ------------------------------------

class GrpcCanary {
  private readonly client = createAgentClient(router.grpcAddress, credentials.createInsecure());
  private readonly stream;
  private echoed = '';
  private sent = '';
  /** Pokes waiting for their echo: each is done once this much has come back. */
  private readonly waiters: { until: number; resolve: () => void }[] = [];
  readonly exit: Promise<{ code: number; exitCode: number | undefined }>;
  readonly started: Promise<void>;

  constructor() {
    const md = new Metadata();
    md.set('x-sandbox-id', 'sb');
    md.set('authorization', `Bearer ${TOKEN}`);
    // A long session says so: without a deadline the router ends a call at its default.
    this.stream = this.client.exec(md, { deadline: Date.now() + 30 * 60_000 });
    let exitCode: number | undefined;
    this.started = new Promise<void>((resolve) => {
      this.stream.on('data', (m: { event: { case: string; value: unknown } }) => {
        if (m.event.case === 'started') resolve();
        if (m.event.case === 'stdout') {
          this.echoed += Buffer.from(m.event.value as Uint8Array).toString('utf8');
          for (const w of this.waiters.filter((x) => this.echoed.length >= x.until)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve();
          }
        }
        if (m.event.case === 'exit') exitCode = (m.event.value as { exitCode: number }).exitCode;
      });
    });
    this.exit = new Promise((resolve) => {
      this.stream.on('status', (s: { code: number }) => resolve({ code: s.code, exitCode }));
      this.stream.on('error', () => undefined);
    });
    this.stream.write({
      frame: {
        case: 'start',
        value: { process: { command: { case: 'argv', value: { args: ['cat'] } } }, stdin: true },
      },
    });
  }

  async poke(line: string, timeoutMs: number): Promise<boolean> {
    const text = `${line}\n`;
    this.sent += text;
    const until = this.sent.length;
    const echoed = new Promise<void>((resolve) => this.waiters.push({ until, resolve }));
    this.stream.write({ frame: { case: 'stdin', value: Buffer.from(text) } });
    return settlesWithin(echoed, timeoutMs);
  }

  async finish(): Promise<{ intact: boolean; code: number; exitCode: number | undefined }> {
    this.stream.write({ frame: { case: 'closeStdin', value: {} } });
    this.stream.end();
    const { code, exitCode } = await this.exit;
    this.client.close();
    return { intact: this.echoed === this.sent, code, exitCode };
  }
}

test(`fuzz: ${CALLS} gRPC passthrough calls (raw HTTP/2)`, async () => {
  const started = Date.now();
  const canary = new GrpcCanary();
  await canary.started;
  const shapes = fc.sample(callShape, { numRuns: CALLS, seed: 20261207 });
  const codes = new Map<string, number>();
  const failures: string[] = [];
  const count = (key: string): void => void codes.set(key, (codes.get(key) ?? 0) + 1);
  const otherFaults = new Map<string, number>();
  const kinds = new Map<string, number>();
  let refusedByClient = 0;
  let messages = 0;
  let pokes = 0;
  let canaryMissed = 0;

  // A few long-lived connections carry the calls, as a client's channels would; one that the
  // router closes (it may, on a protocol error) is replaced.
  const sessions: ClientHttp2Session[] = [];
  const sessionFor = (i: number): ClientHttp2Session => {
    const k = i % 4;
    const existing = sessions[k];
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const s = http2Connect(`http://${router.grpcAddress}`);
    s.on('error', () => undefined);
    sessions[k] = s;
    return s;
  };
  const record = (shape: CallShape, o: Outcome): void => {
    if (o.refusedByClient) {
      refusedByClient++;
      return;
    }
    const origin = o.routerCode === undefined ? 'other' : 'router';
    const key =
      o.grpcStatus === -1
        ? `reset(${shape.ending.kind === 'end' ? 'end' : 'cancel'}, HTTP ${o.httpStatus})`
        : `${origin}:${o.grpcStatus}`;
    count(key);
    // What each answer said, with the quoted and numeric parts folded, to see where answers came from.
    const said = `${key} ${safeDecode(o.details)
      .replace(/"[^"]*"/g, '"…"')
      .replace(/\d+/g, '#')
      .slice(0, 50)}`;
    kinds.set(said, (kinds.get(said) ?? 0) + 1);
    if (origin === 'other' && SERVER_FAULT.has(o.grpcStatus)) {
      const text = safeDecode(o.details);
      const protocol = o.grpcStatus === 13 && PROTOCOL_ANSWERS.some((re) => re.test(text));
      const fault = protocol ? `13 ${text.split(' ').slice(0, 3).join(' ')}` : said;
      otherFaults.set(fault, (otherFaults.get(fault) ?? 0) + 1);
      if (!protocol) failures.push(`${shape.path} → ${o.grpcStatus} ${text}`);
    }
    if (o.hung)
      failures.push(
        `call hung for ${HANG_MS} ms: ${shape.path} ${JSON.stringify(shape.metadata).slice(0, 200)}`,
      );
    if (o.httpStatus >= 500) failures.push(`${shape.path} → HTTP ${o.httpStatus}`);
    if (o.routerCode !== undefined && SERVER_FAULT.has(o.grpcStatus))
      failures.push(`${shape.path} → router ${o.routerCode} (${o.grpcStatus})`);
    // A call the caller ended normally gets a status, never a bare reset.
    if (o.grpcStatus === -1 && shape.ending.kind === 'end' && o.httpStatus === 200)
      failures.push(`${shape.path}: the stream was reset without a status`);
  };

  // The calls in flight when the router process ended, if it did: where to look for the cause.
  const inFlight = new Map<number, CallShape>();
  let inFlightAtExit: string[] = [];
  router.exited
    .then(() => {
      inFlightAtExit = [...inFlight.values()].map(describe);
    })
    .catch(() => undefined);
  const run = async (shape: CallShape, i: number): Promise<void> => {
    messages += shape.messages.length;
    inFlight.set(i, shape);
    record(shape, await call(sessionFor(i), shape));
    inFlight.delete(i);
    if (i % 400 === 0) {
      pokes++;
      if (!(await canary.poke(`poke ${i}`, HANG_MS))) canaryMissed++;
    }
  };
  const warmup = CALLS / 10;
  await pool(shapes.slice(0, warmup), CONCURRENCY, run);
  const heapBefore = await router.heapMiB();
  await pool(shapes.slice(warmup), CONCURRENCY, (shape, i) => run(shape, i + warmup));

  // Connections cut while their calls are in flight: the router cleans up after each.
  const cutShapes = fc.sample(callShape, { numRuns: CUT_CONNECTIONS * CALLS_PER_CUT, seed: 7 });
  await pool(
    Array.from({ length: CUT_CONNECTIONS }, (_, i) => i),
    4,
    async (c) => {
      const s = http2Connect(`http://${router.grpcAddress}`);
      s.on('error', () => undefined);
      const batch = cutShapes.slice(c * CALLS_PER_CUT, (c + 1) * CALLS_PER_CUT);
      const outcomes = batch.map((shape) => call(s, { ...shape, ending: { kind: 'end' } }));
      setTimeout(() => s.destroy(), c % 20);
      for (const o of await Promise.all(outcomes)) {
        if (o.hung) failures.push('a call on a cut connection hung');
      }
    },
  );
  for (const s of sessions) s.close();

  const canaryEnd = await canary.finish();
  const heapAfter = await router.heapMiB();
  const metricsText = await settledMetrics(() => router.metrics(), nothingInFlight);
  const errorLogs = await router.errorLogs();
  const alive = router.alive;
  const exit = alive ? undefined : await router.exited;
  const total = CALLS + CUT_CONNECTIONS * CALLS_PER_CUT;
  process.stdout.write(
    `fuzz-grpc: ${total} calls (${messages} messages; ${CUT_CONNECTIONS * CALLS_PER_CUT} on cut connections; ` +
      `${refusedByClient} refused by the HTTP/2 client) in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `outcomes ${JSON.stringify(Object.fromEntries([...codes].sort()))}; ` +
      `most frequent answers ${JSON.stringify([...kinds].sort((a, b) => b[1] - a[1]).slice(0, 30))}; ` +
      `server-fault codes not from the router's own code table ${JSON.stringify(Object.fromEntries(otherFaults))}; canary ${pokes} pokes, ${canaryMissed} missed, ` +
      `${JSON.stringify(canaryEnd)}; heap after warm-up ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB; ` +
      `peak resident memory ${router.peakRssMiB.toFixed(0)} MiB; ${errorLogs.length} error logs; ${failures.length} failures` +
      (exit ? `; THE ROUTER PROCESS EXITED: ${JSON.stringify(exit)}` : '') +
      '\n',
  );
  expect({ alive, exit, inFlightAtExit }).toEqual({ alive: true, exit: undefined, inFlightAtExit: [] });
  expect(failures.slice(0, 20)).toEqual([]);
  expect(errorLogs.slice(0, 5)).toEqual([]);
  // The client refused few of the generated calls: the rest reached the router.
  expect(refusedByClient).toBeLessThan(CALLS / 20);
  // The run reached the agent (calls it answered, some OK) and the router's own refusals.
  const fromBeyond = [...codes].filter(([k]) => k.startsWith('other:')).reduce((a, [, n]) => a + n, 0);
  expect(fromBeyond).toBeGreaterThan(CALLS / 3);
  expect(codes.get('other:0') ?? 0).toBeGreaterThan(CALLS / 40);
  expect([...codes.keys()].some((k) => k.startsWith('router:'))).toBe(true);
  // The session opened before the run saw none of it.
  expect({ canaryMissed, ...canaryEnd }).toEqual({ canaryMissed: 0, intact: true, code: 0, exitCode: 0 });
  expect(heapAfter - heapBefore).toBeLessThan(48);
  expect(metricsText).not.toMatch(/sandbank_router_inflight_requests\{[^}]*\} [1-9]/);
}, 1_200_000);
