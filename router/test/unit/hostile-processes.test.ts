/**
 * A hostile agent answering ProcessService with well-formed protobuf that breaks the protocol's
 * promises: attach offsets that go back or overlap, chunks over the bound, frames after exit, a
 * followed stream that ends without exit, offsets past JSON's exact range, another process's
 * description, invalid ids and offsets in descriptions. The router never prints any of it: before
 * the first byte it answers 502 upstream_failed naming the fault; mid-stream it cuts the
 * response after the last valid frame (a client then reattaches from its offset).
 */
import { credentials, Metadata, Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import {
  create,
  createAgentClient,
  createAgentPromiseClient,
  OutputChunkSchema,
  OutputStream,
  ProcessInfoSchema,
  ProcessServiceDefinition,
  ProcessState,
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
  server.addService(ProcessServiceDefinition, {
    startProcess: unimplemented,
    writeProcessStdin: unimplemented,
    signalProcess: unimplemented,
    resizeProcess: unimplemented,
    waitProcess: unimplemented,
    removeProcess: unimplemented,
    listProcesses: (_call: unknown, cb: sendUnaryData<{ processes: ProcessInfo[] }>) =>
      cb(null, { processes: [info({ id: 'fine' }), info({ id: 'no/slash' })] }),
    getProcess: (
      call: ServerUnaryCall<{ id: string }, unknown>,
      cb: sendUnaryData<{ process: ProcessInfo }>,
    ) => {
      const answer = GET[call.request.id] ?? info({ id: 'not-what-was-asked' });
      cb(null, { process: answer });
    },
    attachProcess: (call: ServerWritableStream<{ id: string }, { event: Event }>) => {
      for (const event of ATTACH[call.request.id] ?? []) call.write({ event });
      call.end();
    },
  });
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
])(
  'an attach whose agent %s is a 502 before any byte',
  async (_what, id, message) => {
    const res = await fetch(url(id, '/attach'));
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
