/**
 * The agent's rpcs as promises and async iterables, over a real loopback socket: each method kind
 * has its shape, aborts and deadlines end calls on both sides, and no failure goes unseen.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import {
  bidiStreamingCall,
  create,
  createAgentClient,
  createAgentPromiseClient,
  Signal,
  WriteFileRequestSchema,
} from '@sandbank/proto';
import type { AgentClient, AgentPromiseClient, WriteFileRequest } from '@sandbank/proto';
import { ENDLESS_PATH, FAKE_PID, REFUSED_PATH, SLOW_PATH, startFakeAgent } from '../fixtures/fake-agent.js';
import type { FakeAgent } from '../fixtures/fake-agent.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const write = (
  frame: NonNullable<MessageInitShape<typeof WriteFileRequestSchema>['frame']>,
): WriteFileRequest => create(WriteFileRequestSchema, { frame });

let fake: FakeAgent;
let client: AgentClient;
let agent: AgentPromiseClient;

beforeAll(async () => {
  fake = await startFakeAgent();
  client = createAgentClient(fake.address, credentials.createInsecure());
  agent = createAgentPromiseClient(client);
});

afterAll(async () => {
  client.close();
  await fake.close();
});

/** Waits (bounded) until the fake saw `rpc` cancelled; cancellation reaches it over the wire. */
async function cancelledOnServer(rpc: string): Promise<void> {
  for (let i = 0; i < 200 && !fake.received.cancelled.includes(rpc); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(fake.received.cancelled).toContain(rpc);
  fake.received.cancelled.length = 0;
}

describe('method kinds', () => {
  it('unary answers a promise; a status error rejects with the ServiceError', async () => {
    const response = await agent.run({
      process: { command: { case: 'shell', value: 'x' } },
      stdin: bytes('in'),
    });
    expect(response.stdout).toEqual(bytes('in'));
    expect(response.exit?.exitCode).toBe(3);
    await expect(agent.stat({ path: 'missing' })).rejects.toMatchObject<Partial<ServiceError>>({
      code: status.NOT_FOUND,
      details: 'missing: no such file or directory',
    });
  });

  it('server streaming is an async iterable of the responses, in order', async () => {
    const data: number[] = [];
    for await (const chunk of agent.readFile({ path: 'data.bin' })) data.push(...chunk.data);
    expect(data).toEqual([0, 1, 2, 3, 254, 255]);
  });

  it('client streaming sends an async iterable of requests and answers a promise', async () => {
    async function* requests(): AsyncGenerator<WriteFileRequest> {
      yield write({ case: 'header', value: { path: 'out.bin' } });
      yield write({ case: 'data', value: bytes('hello ') });
      yield write({ case: 'data', value: bytes('world') });
    }
    const response = await agent.writeFile(requests());
    expect(response.info).toMatchObject({ path: 'out.bin', size: 11n });
  });

  it('bidi is a duplex: writes go out while responses are read', async () => {
    const stream = agent.exec();
    stream.write({
      frame: { case: 'start', value: { process: { command: { case: 'shell', value: 'cat' } } } },
    });
    const events: (string | undefined)[] = [];
    for await (const response of stream) {
      events.push(response.event.case);
      if (response.event.case === 'started') {
        expect(response.event.value.pid).toBe(FAKE_PID);
        stream.write({ frame: { case: 'stdin', value: bytes('a') } });
        stream.write({ frame: { case: 'signal', value: Signal.INT } });
        stream.write({ frame: { case: 'closeStdin', value: {} } });
        stream.end();
      }
    }
    expect(events).toEqual(['started', 'stdout', 'stderr', 'exit']);
  });
});

describe('ending calls', () => {
  it('an abort cancels a unary call on the server and rejects with the reason', async () => {
    const controller = new AbortController();
    const call = agent.stat({ path: SLOW_PATH }, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const reason = new Error('the client went away');
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    await cancelledOnServer('stat');
  });

  it('an already aborted signal starts no call', async () => {
    const before = fake.received.paths.length;
    const reason = new Error('too late');
    await expect(agent.stat({ path: 'x' }, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(fake.received.paths.length).toBe(before);
  });

  it('a deadline fails the call DEADLINE_EXCEEDED', async () => {
    const started = Date.now();
    await expect(agent.stat({ path: SLOW_PATH }, { deadline: Date.now() + 100 })).rejects.toMatchObject({
      code: status.DEADLINE_EXCEEDED,
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    await cancelledOnServer('stat');
  });

  it('leaving a server stream early cancels the call', async () => {
    let chunks = 0;
    for await (const chunk of agent.readFile({ path: ENDLESS_PATH })) {
      expect(chunk.data.length).toBe(1024);
      if (++chunks === 3) break;
    }
    await cancelledOnServer('readFile');
  });

  it('an abort mid-stream ends the bidi iteration with the reason and cancels the call', async () => {
    const controller = new AbortController();
    const stream = agent.exec({ signal: controller.signal });
    stream.write({
      frame: { case: 'start', value: { process: { command: { case: 'shell', value: 'cat' } } } },
    });
    const reason = new Error('shutting down');
    const read = (async () => {
      for await (const response of stream) if (response.event.case === 'started') controller.abort(reason);
    })();
    await expect(read).rejects.toBe(reason);
    await cancelledOnServer('exec');
  });

  it('a server that refuses the first request stops an endless client stream with its error', async () => {
    let closed = false;
    async function* endless(): AsyncGenerator<WriteFileRequest> {
      try {
        yield write({ case: 'header', value: { path: REFUSED_PATH } });
        for (;;) yield write({ case: 'data', value: new Uint8Array(64 * 1024) });
      } finally {
        closed = true;
      }
    }
    await expect(agent.writeFile(endless())).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
      details: `${REFUSED_PATH}: read-only`,
    });
    expect(closed).toBe(true);
  });

  it('requests that fail cancel the client stream and reject with their error', async () => {
    const failure = new Error('the upload was cut off');
    async function* broken(): AsyncGenerator<WriteFileRequest> {
      yield write({ case: 'header', value: { path: 'partial.bin' } });
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw failure;
    }
    await expect(agent.writeFile(broken())).rejects.toBe(failure);
    await cancelledOnServer('writeFile');
  });

  it('a failure that comes before anyone iterates is still thrown by the iteration', async () => {
    const unknown = {
      path: '/sandbank.agent.v1.ExecService/NoSuchMethod',
      requestSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    };
    const stream = bidiStreamingCall(client, unknown, { metadata: new Metadata() });
    stream.end();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const iterate = async (): Promise<void> => {
      for await (const response of stream)
        throw new Error(`no response expected, got ${response.length} bytes`);
    };
    await expect(iterate()).rejects.toMatchObject({ code: status.UNIMPLEMENTED });
  });
});
