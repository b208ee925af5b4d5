/**
 * The gRPC passthrough relays every method kind of sandbank.agent.v1 to a real agent, byte for
 * byte: what the caller sends arrives, what the agent answers (failures included) comes back, and a
 * caller that cancels ends the agent's work.
 */
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { Metadata } from '@grpc/grpc-js';
import { create, createAgentPromiseClient, WriteFileRequestSchema } from '@sandbank/proto';
import type { AgentPromiseClient, WriteFileRequest } from '@sandbank/proto';
import { sandboxMetadata, startRoutedAgent } from '../helpers/routed-agent.js';
import type { RoutedAgent } from '../helpers/routed-agent.js';

/** Each test runs processes on a busy machine: generous, but a hang still fails. */
const TIMEOUT_MS = 60_000;

let routed: RoutedAgent;
let viaRouter: AgentPromiseClient;

beforeAll(async () => {
  routed = await startRoutedAgent('127.0.0.9');
  viaRouter = createAgentPromiseClient(routed.passthrough);
}, TIMEOUT_MS);

afterAll(() => routed?.close(), TIMEOUT_MS);

test(
  'client streaming and server streaming: a file goes up and comes back intact',
  async () => {
    const data = randomBytes(3 * 1024 * 1024 + 7);
    async function* upload(): AsyncGenerator<WriteFileRequest> {
      yield create(WriteFileRequestSchema, { frame: { case: 'header', value: { path: 'relayed.bin' } } });
      for (let at = 0; at < data.length; at += 64 * 1024) {
        yield create(WriteFileRequestSchema, {
          frame: { case: 'data', value: data.subarray(at, at + 64 * 1024) },
        });
      }
    }
    const written = await viaRouter.writeFile(upload(), { metadata: sandboxMetadata() });
    expect(written.info?.size).toBe(BigInt(data.length));
    const chunks: Uint8Array[] = [];
    for await (const chunk of viaRouter.readFile(
      { path: 'relayed.bin', chunkSize: 100_000 },
      { metadata: sandboxMetadata() },
    )) {
      chunks.push(chunk.data);
    }
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  },
  TIMEOUT_MS,
);

test(
  'unary and bidi: run answers; exec streams both ways to its exit',
  async () => {
    const run = await viaRouter.run(
      { process: { command: { case: 'shell', value: 'echo unary' } } },
      { metadata: sandboxMetadata() },
    );
    expect(Buffer.from(run.stdout).toString()).toBe('unary\n');
    const exec = viaRouter.exec({ metadata: sandboxMetadata() });
    exec.write({
      frame: {
        case: 'start',
        value: { process: { command: { case: 'argv', value: { args: ['cat'] } } }, stdin: true },
      },
    });
    const out: Buffer[] = [];
    let exit: number | undefined;
    for await (const response of exec) {
      const event = response.event;
      if (event.case === 'started') {
        exec.write({ frame: { case: 'stdin', value: Buffer.from('both ways') } });
        exec.write({ frame: { case: 'closeStdin', value: {} } });
        exec.end();
      }
      if (event.case === 'stdout') out.push(Buffer.from(event.value));
      if (event.case === 'exit') exit = event.value.exitCode;
    }
    expect(Buffer.concat(out).toString()).toBe('both ways');
    expect(exit).toBe(0);
  },
  TIMEOUT_MS,
);

test(
  "the agent's failures reach the caller as the agent sent them; the router's carry its code",
  async () => {
    await expect(
      viaRouter.stat({ path: 'no/such/file' }, { metadata: sandboxMetadata() }),
    ).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: expect.not.stringMatching(/^not_found: /),
    });
    const refused = await viaRouter
      .stat({ path: '.' }, { metadata: sandboxMetadata('missing') })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: status.NOT_FOUND, details: expect.stringMatching(/^not_found: /) });
    expect((refused as { metadata: Metadata }).metadata.get('sandbank-error-code')).toEqual(['not_found']);
  },
  TIMEOUT_MS,
);

test(
  "a caller that cancels mid-stream ends the agent's process",
  async () => {
    const controller = new AbortController();
    const exec = viaRouter.exec({ metadata: sandboxMetadata(), signal: controller.signal });
    exec.write({
      frame: { case: 'start', value: { process: { command: { case: 'shell', value: 'sleep 30' } } } },
    });
    const read = (async () => {
      for await (const response of exec)
        if (response.event.case === 'started') controller.abort(new Error('done'));
    })();
    await expect(read).rejects.toThrow('done');
    for (let i = 0; i < 300 && routed.agent.deps.runner.size > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(routed.agent.deps.runner.size).toBe(0);
  },
  TIMEOUT_MS,
);
