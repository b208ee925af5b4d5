/**
 * A hostile agent answering ProcessService with well-formed protobuf that breaks the protocol's
 * promises: attach offsets that go back or overlap, a first frame that starts elsewhere than the
 * caller asked, chunks over the bound, frames after exit, a followed stream that ends without
 * exit, offsets past JSON's exact range, another process's description, invalid ids and offsets
 * in descriptions. The gRPC passthrough holds the agent to the same, and checks the id of every
 * call that names a process before the agent sees it. The router never prints any of it: before
 * the first byte it answers 502 upstream_failed naming the fault; mid-stream it cuts the
 * response after the last valid frame (a client then reattaches from its offset).
 */
import { credentials, Metadata, Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { ServerWritableStream, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import {
  create,
  createAgentClient,
  createAgentPromiseClient,
  OutputChunkSchema,
  OutputStream,
  ProcessInfoSchema,
  ProcessServiceDefinition,
  ProcessState,
  Signal,
} from '@sandbank/proto';
import type { AttachProcessResponse, OutputChunk, ProcessInfo } from '@sandbank/proto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { outputOf, readAttach } from '../helpers/process-frames.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

const IP = '127.0.0.68';
const TIMEOUT_MS = 30_000;

type Info = MessageInitShape<typeof ProcessInfoSchema>;
const info = (fields: Partial<Info> = {}): ProcessInfo =>
  create(ProcessInfoSchema, {
    id: 'p-1',
    pid: 10,
    command: 'x',
    state: ProcessState.RUNNING,
    firstOffset: 0n,
    endOffset: 100n,
    stdinOpen: false,
    ...fields,
  });

type Event = AttachProcessResponse['event'];

/** A message with a field set to a number outside its enum, as a hostile agent may send. */
function outOfEnum<T extends object>(message: T, field: keyof T & string, value: number): T {
  return Object.assign(message, { [field]: value });
}
const attached = (fields: Partial<Info> = {}, startOffset = 0n): Event => ({
  case: 'attached',
  value: { $typeName: 'sandbank.agent.v1.Attached', startOffset, bytesDropped: false, process: info(fields) },
});
const chunk = (offset: bigint, text: string | Buffer): OutputChunk =>
  create(OutputChunkSchema, {
    offset,
    stream: OutputStream.STDOUT,
    data: typeof text === 'string' ? Buffer.from(text) : text,
  });
const output = (offset: bigint, text: string | Buffer): Event => ({
  case: 'output',
  value: chunk(offset, text),
});
const exit: Event = {
  case: 'exit',
  value: {
    $typeName: 'sandbank.agent.v1.ExitStatus',
    exitCode: 0,
    signal: '',
    timedOut: false,
    oomKilled: false,
    stdoutTruncated: false,
    stderrTruncated: false,
    durationMs: 1,
  },
};

/** What the hostile agent streams for an attach, by the process id asked for. */
const ATTACH: Record<string, Event[]> = {
  good: [attached({ id: 'good' }), output(0n, 'abc'), output(5n, 'de'), exit],
  backwards: [attached({ id: 'backwards' }), output(0n, 'abcdef'), output(3n, 'XYZ')],
  repeated: [attached({ id: 'repeated' }), output(0n, 'abc'), output(0n, 'abc')],
  overlapping: [attached({ id: 'overlapping' }), output(0n, 'abcdef'), output(5n, 'fg')],
  huge: [attached({ id: 'huge' }), output(0n, 'ok'), output(2n, Buffer.alloc(2 * 1024 * 1024, 120))],
  'after-exit': [attached({ id: 'after-exit' }), output(0n, 'ok'), exit, output(2n, 'late')],
  'no-exit': [attached({ id: 'no-exit' }), output(0n, 'ok')],
  'past-range': [attached({ id: 'past-range' }), output(0n, 'ok'), output(2n ** 60n, 'far')],
  'bad-stream': [
    attached({ id: 'bad-stream' }),
    output(0n, 'ok'),
    { case: 'output', value: outOfEnum(chunk(2n, 'x'), 'stream', 7) },
  ],
  'other-id': [attached({ id: 'someone-else' })],
  'start-outside': [attached({ id: 'start-outside', firstOffset: 50n, endOffset: 60n }, 10n)],
  // Asked for from offset 5 (the tests below), these start elsewhere than the protocol says.
  rewound: [attached({ id: 'rewound' }, 0n), output(0n, 'abcde')],
  skipped: [attached({ id: 'skipped' }, 9n), output(9n, 'j')],
  'hidden-drop': [attached({ id: 'hidden-drop', firstOffset: 8n }, 8n), output(8n, 'ij')],
  'dropped-nothing': [
    {
      case: 'attached',
      value: {
        $typeName: 'sandbank.agent.v1.Attached',
        startOffset: 5n,
        bytesDropped: true,
        process: info({ id: 'dropped-nothing' }),
      },
    },
  ],
  'resumed-right': [attached({ id: 'resumed-right' }, 5n), output(5n, 'fgh'), exit],
  'no-attached': [output(0n, 'ok')],
  empty: [attached({ id: 'empty' }), output(0n, 'ok'), output(2n, '')],
};

/** What GetProcess answers, by id. */
const GET: Record<string, ProcessInfo> = {
  'offsets-crossed': info({ id: 'offsets-crossed', firstOffset: 10n, endOffset: 5n }),
  'exited-no-exit': info({ id: 'exited-no-exit', state: ProcessState.EXITED }),
  'state-unknown': outOfEnum(info({ id: 'state-unknown' }), 'state', 9),
  huge: info({ id: 'huge', endOffset: 2n ** 60n }),
};

/** The calls that reached the agent, as `method id`. */
const seen: string[] = [];

let server: Server;
let router: TestRouter;

beforeAll(async () => {
  server = new Server();
  const unimplemented = (_call: unknown, cb: sendUnaryData<never>) =>
    cb(
      Object.assign(new Error('not scripted'), {
        code: status.UNIMPLEMENTED,
        details: 'not scripted',
        metadata: new Metadata(),
      }),
    );
  // Unary calls get a ServerUnaryCall: its `request` is all they read of this type.
  type Call = ServerWritableStream<{ id: string }, { event: Event }>;
  const handlers: Record<string, (call: Call, cb: sendUnaryData<unknown>) => void> = {
    startProcess: unimplemented,
    writeProcessStdin: unimplemented,
    signalProcess: unimplemented,
    resizeProcess: unimplemented,
    // Whatever was asked, the answer is about another process.
    waitProcess: (_call, cb) => cb(null, { process: info({ id: 'not-what-was-asked' }) }),
    removeProcess: unimplemented,
    listProcesses: (_call, cb) => cb(null, { processes: [info({ id: 'fine' }), info({ id: 'no/slash' })] }),
    getProcess: (call, cb) => {
      const answer = GET[call.request.id] ?? info({ id: 'not-what-was-asked' });
      cb(null, { process: answer });
    },
    attachProcess: (call) => {
      for (const event of ATTACH[call.request.id] ?? []) call.write({ event });
      call.end();
    },
  };
  // Every call that reaches the agent is noted first.
  server.addService(
    ProcessServiceDefinition,
    Object.fromEntries(
      Object.entries(handlers).map(([name, handle]) => [
        name,
        (call: Call, cb: sendUnaryData<unknown>) => {
          seen.push(`${name} ${call.request.id}`);
          handle(call, cb);
        },
      ]),
    ) as UntypedServiceImplementation,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${IP}:0`, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  router = await startRouter({
    lookup: staticLookup([{ namespace: 'default', name: 'hostile', ip: IP, protocol: 'grpc' }]),
    agentPorts: { grpcPort: port },
  });
}, TIMEOUT_MS);

afterAll(async () => {
  await router?.close();
  server?.forceShutdown();
}, TIMEOUT_MS);

const url = (id: string, suffix = '') =>
  `${router.url}/v1/namespaces/default/sandboxes/hostile/processes/${id}${suffix}`;

test('a well-behaved stream passes whole, gap and all', async () => {
  const read = await readAttach(url('good', '/attach?follow=true'));
  expect(read.error).toBeUndefined();
  expect(read.frames.map((f) => [f.kind, f.offset])).toEqual([
    [0, 0],
    [1, 0],
    [1, 5],
    [3, 7],
  ]);
});

test.each([
  ['offsets that go back', 'backwards', 'abcdef'],
  ['a chunk repeated at the same offset', 'repeated', 'abc'],
  ['a chunk overlapping the one before', 'overlapping', 'abcdef'],
  ['a chunk over the bound', 'huge', 'ok'],
  ['a frame after exit', 'after-exit', 'ok'],
  ['a followed stream without exit', 'no-exit', 'ok'],
  ['an offset past 2^53 - 1', 'past-range', 'ok'],
  ['an unknown stream', 'bad-stream', 'ok'],
  ['an empty chunk', 'empty', 'ok'],
])(
  'an attach with %s is cut after the last valid frame',
  async (_what, id, valid) => {
    const read = await readAttach(url(id, '/attach?follow=true'));
    expect(read.status).toBe(200);
    expect(read.error).toBeDefined();
    // The cut may also lose valid frames still queued in the router (a client resumes from its
    // own offset), never show what came after them.
    expect(valid.startsWith(outputOf(read.frames))).toBe(true);
    if (id !== 'after-exit') expect(read.frames.some((f) => f.kind === 3)).toBe(false);
  },
  TIMEOUT_MS,
);

test.each([
  ['describes another process', 'other-id', 'another process'],
  ['starts outside the retained bytes', 'start-outside', 'startOffset'],
  ['sends output before attached', 'no-attached', 'output before attached'],
  ['starts before the asked offset (repeating bytes)', 'rewound', 'startOffset 0 where fromOffset 5'],
  ['starts after the asked offset (skipping bytes)', 'skipped', 'startOffset 9 where fromOffset 5'],
  ['drops bytes without saying so', 'hidden-drop', 'bytesDropped false where it is true'],
  ['says bytes were dropped when none were', 'dropped-nothing', 'bytesDropped true where it is false'],
])(
  'an attach whose agent %s is a 502 before any byte',
  async (_what, id, message) => {
    const res = await fetch(url(id, '/attach?fromOffset=5'));
    expect(res.status).toBe(502);
    expect(res.headers.get('x-sandbank-error-code')).toBe('upstream_failed');
    expect(await res.text()).toContain(message);
  },
  TIMEOUT_MS,
);

test.each([
  ['crossed offsets', 'offsets-crossed', 'firstOffset'],
  ['EXITED without an exit status', 'exited-no-exit', 'exit'],
  ['an unknown state', 'state-unknown', 'state'],
  ['an offset past 2^53 - 1', 'huge', 'endOffset'],
  ['another process', 'asked-for-this', 'another process'],
])(
  'a process description with %s is a 502 naming the field',
  async (_what, id, field) => {
    const res = await fetch(url(id));
    expect(res.status).toBe(502);
    expect(res.headers.get('x-sandbank-error-code')).toBe('upstream_failed');
    expect(await res.text()).toContain(field);
  },
  TIMEOUT_MS,
);

test('a listing with one invalid id is a 502 naming the entry', async () => {
  const res = await fetch(`${router.url}/v1/namespaces/default/sandboxes/hostile/processes`);
  expect(res.status).toBe(502);
  const text = await res.text();
  expect(text).toContain('processes[1]');
  expect(text).toContain('id');
});

test.each([
  ['offsets that go back', 'backwards', 'abcdef', 'offsets go back'],
  ['a frame after exit', 'after-exit', 'ok', 'after exit'],
  ['a followed stream without exit', 'no-exit', 'ok', 'before the exit frame'],
])(
  'the gRPC passthrough ends an attach with %s after the last valid frame',
  async (_what, id, valid, message) => {
    const client = createAgentClient(router.grpcAddress, credentials.createInsecure());
    try {
      const viaRouter = createAgentPromiseClient(client);
      const md = new Metadata();
      md.set('x-sandbox-id', 'hostile');
      const got: Uint8Array[] = [];
      let failure: unknown;
      try {
        for await (const r of viaRouter.attachProcess({ id, follow: true }, { metadata: md })) {
          if (r.event.case === 'output') got.push(r.event.value.data);
        }
      } catch (e) {
        failure = e;
      }
      expect(valid.startsWith(Buffer.concat(got).toString('utf8'))).toBe(true);
      expect(failure).toMatchObject({
        code: status.UNKNOWN,
        details: expect.stringContaining(message) as unknown,
      });
    } finally {
      client.close();
    }
  },
  TIMEOUT_MS,
);

test('the gRPC passthrough relays a well-behaved attach whole', async () => {
  const client = createAgentClient(router.grpcAddress, credentials.createInsecure());
  try {
    const md = new Metadata();
    md.set('x-sandbox-id', 'hostile');
    const kinds: (string | undefined)[] = [];
    for await (const r of createAgentPromiseClient(client).attachProcess(
      { id: 'good', follow: true },
      { metadata: md },
    ))
      kinds.push(r.event.case);
    expect(kinds).toEqual(['attached', 'output', 'output', 'exit']);
  } finally {
    client.close();
  }
});

test('a wait answered about another process is a 502', async () => {
  const res = await fetch(url('p-1', '/wait'), { method: 'POST', body: '{}' });
  expect(res.status).toBe(502);
  expect(res.headers.get('x-sandbank-error-code')).toBe('upstream_failed');
  expect(await res.text()).toContain('another process');
});

test('an attach resumed from an offset starts there, or past it only when the agent says bytes were dropped', async () => {
  const read = await readAttach(url('resumed-right', '/attach?follow=true&fromOffset=5'));
  expect(read.error).toBeUndefined();
  expect(read.frames.map((f) => [f.kind, f.offset])).toEqual([
    [0, 5],
    [1, 5],
    [3, 8],
  ]);
});

/** An attach through the gRPC passthrough: the output it relayed and how it ended. */
async function grpcAttach(request: {
  id: string;
  fromOffset?: bigint;
  follow?: boolean;
}): Promise<{ output: string; failure: unknown }> {
  const client = createAgentClient(router.grpcAddress, credentials.createInsecure());
  try {
    const md = new Metadata();
    md.set('x-sandbox-id', 'hostile');
    const got: Uint8Array[] = [];
    let failure: unknown;
    try {
      for await (const r of createAgentPromiseClient(client).attachProcess(request, { metadata: md })) {
        if (r.event.case === 'output') got.push(r.event.value.data);
      }
    } catch (e) {
      failure = e;
    }
    return { output: Buffer.concat(got).toString('utf8'), failure };
  } finally {
    client.close();
  }
}

test('the gRPC passthrough holds the first frame to the offset the caller asked for', async () => {
  const resumed = await grpcAttach({ id: 'resumed-right', fromOffset: 5n, follow: true });
  expect(resumed).toEqual({ output: 'fgh', failure: undefined });
  for (const [id, message] of [
    ['rewound', 'startOffset 0 where fromOffset 5'],
    ['skipped', 'startOffset 9 where fromOffset 5'],
    ['hidden-drop', 'bytesDropped false where it is true'],
  ] as const) {
    const got = await grpcAttach({ id, fromOffset: 5n });
    expect(got.output).toBe('');
    expect(got.failure).toMatchObject({
      code: status.UNKNOWN,
      details: expect.stringContaining(message) as unknown,
    });
  }
});

test('the gRPC passthrough checks the id of every ProcessService call that names one before the agent sees it', async () => {
  const client = createAgentClient(router.grpcAddress, credentials.createInsecure());
  try {
    const viaRouter = createAgentPromiseClient(client);
    const md = new Metadata();
    md.set('x-sandbox-id', 'hostile');
    const calls: Record<string, (id: string) => Promise<unknown>> = {
      getProcess: (id) => viaRouter.getProcess({ id }, { metadata: md }),
      removeProcess: (id) => viaRouter.removeProcess({ id }, { metadata: md }),
      waitProcess: (id) => viaRouter.waitProcess({ id, timeoutMs: 1 }, { metadata: md }),
      writeProcessStdin: (id) =>
        viaRouter.writeProcessStdin({ id, data: Buffer.alloc(1024, 1), close: true }, { metadata: md }),
      signalProcess: (id) => viaRouter.signalProcess({ id, signal: Signal.TERM }, { metadata: md }),
      resizeProcess: (id) => viaRouter.resizeProcess({ id, size: { rows: 2, cols: 3 } }, { metadata: md }),
      attachProcess: async (id) => {
        const frames = viaRouter.attachProcess({ id, fromOffset: 7n, follow: true }, { metadata: md });
        await frames[Symbol.asyncIterator]().next();
      },
    };
    for (const [name, call] of Object.entries(calls)) {
      const before = seen.length;
      await expect(call('../p')).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: expect.stringContaining('id:') as unknown,
      });
      expect({ name, seen: seen.slice(before) }).toEqual({ name, seen: [] });
      // The same call with a valid id reaches the agent, id and all (whatever it answers).
      await call('p-valid').catch(() => undefined);
      expect({ name, seen: seen.slice(before) }).toEqual({ name, seen: [`${name} p-valid`] });
    }
  } finally {
    client.close();
  }
});
