/**
 * The grpc-js definitions built from the protobuf-es schemas carry every call kind over a real
 * loopback socket, and values survive serialization in both directions.
 */
import { Client, credentials, status } from '@grpc/grpc-js';
import type { ClientReadableStream, requestCallback, ServiceError } from '@grpc/grpc-js';
import {
  createAgentClient,
  FileType,
  HealthCheckResponse_ServingStatus,
  HealthServiceDefinition,
  Signal,
  timestampMs,
} from '@sandbank/proto';
import type {
  AgentClient,
  ExecResponse,
  HealthCheckResponse,
  ListDirResponse,
  MakeDirResponse,
  RemoveResponse,
  RunResponse,
  StatResponse,
  WriteFileResponse,
} from '@sandbank/proto';
import { BIG_SIZE, FAKE_PID, MOD_TIME_MS, startFakeAgent } from '../fixtures/fake-agent.js';
import type { FakeAgent } from '../fixtures/fake-agent.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const allByteValues = Uint8Array.from({ length: 256 }, (_, i) => i);

/** Resolves a callback-style unary call. */
function unary<Res>(invoke: (callback: requestCallback<Res>) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((error, response) => (error ? reject(error) : resolve(response as Res)));
  });
}

async function collect<T>(stream: ClientReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const message of stream as AsyncIterable<T>) out.push(message);
  return out;
}

let agent: FakeAgent;
let client: AgentClient;

beforeAll(async () => {
  agent = await startFakeAgent();
  client = createAgentClient(agent.address, credentials.createInsecure());
});

afterAll(async () => {
  client.close();
  await agent.close();
});

describe('unary', () => {
  it('Run carries the oneof command, maps, optional fields and bytes', async () => {
    const response = await unary<RunResponse>((cb) =>
      client.run(
        {
          process: {
            command: { case: 'argv', value: { args: ['python3', '-c', 'print(1)'] } },
            env: { LANG: 'C.UTF-8' },
            secretEnv: { API_KEY: 's3cret' },
            cwd: 'src',
            timeoutMs: 0,
          },
          stdin: allByteValues,
        },
        cb,
      ),
    );

    const [request] = agent.received.run;
    expect(request?.process?.command).toEqual({
      case: 'argv',
      value: expect.objectContaining({ args: ['python3', '-c', 'print(1)'] }),
    });
    expect(request?.process?.env).toEqual({ LANG: 'C.UTF-8' });
    expect(request?.process?.secretEnv).toEqual({ API_KEY: 's3cret' });
    expect(request?.process?.cwd).toBe('src');
    // `optional`: an explicit 0 ("no limit") is distinguishable from unset ("agent default").
    expect(request?.process?.timeoutMs).toBe(0);
    expect(request?.maxOutputBytes).toBeUndefined();

    expect(response.exit).toMatchObject({
      exitCode: 3,
      durationMs: 86_400_000,
      stdoutTruncated: true,
      signal: '',
    });
    expect(response.stdout).toEqual(allByteValues);
    expect(response.stdout).toBeInstanceOf(Uint8Array);
    expect(new TextDecoder().decode(response.stderr)).toBe('warning\n');
  });

  it('Stat returns FileInfo with a uint64 size as a number and a timestamp', async () => {
    const { info } = await unary<StatResponse>((cb) => client.stat({ path: 'src/main.py' }, cb));
    expect(info).toMatchObject({
      name: 'main.py',
      path: 'src/main.py',
      size: BIG_SIZE,
      type: FileType.FILE,
      mode: 0o640,
    });
    expect(info && info.modTime && timestampMs(info.modTime)).toBe(MOD_TIME_MS);
  });

  it('Stat of a missing path fails with the NOT_FOUND status, not a field', async () => {
    const failure = unary<StatResponse>((cb) => client.stat({ path: 'missing' }, cb));
    await expect(failure).rejects.toMatchObject<Partial<ServiceError>>({
      code: status.NOT_FOUND,
      details: 'missing: no such file or directory',
    });
  });

  it('ListDir, Remove and MakeDir round-trip', async () => {
    const { entries } = await unary<ListDirResponse>((cb) => client.listDir({ path: '' }, cb));
    expect(entries.map((e) => [e.name, e.type, e.mode])).toEqual([
      ['a.txt', FileType.FILE, 0o640],
      ['sub', FileType.DIRECTORY, 0o755],
    ]);

    await expect(
      unary<RemoveResponse>((cb) => client.remove({ path: 'tmp', recursive: true }, cb)),
    ).resolves.toEqual(expect.objectContaining({ $typeName: 'sandbank.agent.v1.RemoveResponse' }));
    const made = await unary<MakeDirResponse>((cb) => client.makeDir({ path: 'a/b', parents: true }, cb));
    expect(made.info?.type).toBe(FileType.DIRECTORY);
    expect(agent.received.paths).toEqual(
      expect.arrayContaining(['tmp recursive=true', 'a/b mode=undefined']),
    );
  });
});

describe('server stream', () => {
  it('ReadFile streams chunks in order; only the first carries info', async () => {
    const chunks = await collect(client.readFile({ path: 'data.bin', offset: 0n, chunkSize: 2 }));
    expect(chunks.map((c) => c.info?.path)).toEqual(['data.bin', undefined, undefined]);
    expect(Buffer.concat(chunks.map((c) => c.data))).toEqual(Buffer.from([0, 1, 2, 3, 254, 255]));
  });
});

describe('client stream', () => {
  it('WriteFile sends a header then data and gets the written FileInfo', async () => {
    const response = await unary<WriteFileResponse>((cb) => {
      const call = client.writeFile(cb);
      call.write({
        frame: { case: 'header', value: { path: 'out/x.bin', mode: 0o600, createParents: false } },
      });
      call.write({ frame: { case: 'data', value: allByteValues } });
      call.write({ frame: { case: 'data', value: bytes('tail') } });
      call.end();
    });

    expect(response.info).toMatchObject({ path: 'out/x.bin', size: 260n });
    const [header, ...data] = agent.received.writeFile;
    expect(header?.frame).toEqual({
      case: 'header',
      value: expect.objectContaining({
        path: 'out/x.bin',
        mode: 0o600,
        createParents: false,
        exclusive: false,
      }),
    });
    expect(data.map((d) => d.frame.case)).toEqual(['data', 'data']);
    expect(data[0]?.frame.value).toEqual(allByteValues);
  });
});

describe('bidi stream', () => {
  it('Exec: start → started, stdin → stdout, signal → stderr, close_stdin → exit', async () => {
    const call = client.exec();
    const events = collect<ExecResponse>(call);
    call.write({
      frame: {
        case: 'start',
        value: {
          process: { command: { case: 'shell', value: 'cat' }, env: { A: '1' } },
          stdin: true,
          tty: { cols: 80, rows: 24 },
          maxOutputBytes: BIG_SIZE,
        },
      },
    });
    call.write({ frame: { case: 'stdin', value: allByteValues } });
    call.write({ frame: { case: 'signal', value: Signal.INT } });
    call.write({ frame: { case: 'closeStdin', value: {} } });
    call.end();

    const received = (await events).map((e) => e.event);
    expect(received).toEqual([
      { case: 'started', value: expect.objectContaining({ pid: FAKE_PID }) },
      { case: 'stdout', value: allByteValues },
      { case: 'stderr', value: bytes('INT') },
      {
        case: 'exit',
        value: expect.objectContaining({ exitCode: 130, signal: 'SIGINT', durationMs: 7, timedOut: false }),
      },
    ]);

    const [start] = agent.received.exec;
    expect(start?.frame).toEqual({
      case: 'start',
      value: expect.objectContaining({
        process: expect.objectContaining({ command: { case: 'shell', value: 'cat' }, env: { A: '1' } }),
        stdin: true,
        tty: expect.objectContaining({ cols: 80, rows: 24 }),
        maxOutputBytes: BIG_SIZE,
      }),
    });
    expect(agent.received.exec.map((r) => r.frame.case)).toEqual(['start', 'stdin', 'signal', 'closeStdin']);
  });
});

describe('health', () => {
  it('grpc.health.v1.Health/Check answers SERVING', async () => {
    const check = HealthServiceDefinition.check;
    const raw = new Client(agent.address, credentials.createInsecure());
    try {
      const response = await unary<HealthCheckResponse>((cb) =>
        raw.makeUnaryRequest(
          check.path,
          check.requestSerialize,
          check.responseDeserialize,
          { service: '' },
          cb,
        ),
      );
      expect(response.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    } finally {
      raw.close();
    }
  });
});
