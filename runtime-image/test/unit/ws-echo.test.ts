/**
 * sandbank-ws-echo as the runtime image runs it (ws-echo.mjs, bundled beside the agent): text and
 * binary messages come back as they were sent, an oversized one closes with 1009, a client that
 * does not read is not read either, bad arguments exit 2 naming the argument, SIGTERM closes
 * clients (1001) and exits 0.
 */
import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import WebSocket from 'ws';
import { buildBundle, removeBundle } from '@sandbank/testing';
import { MAX_MESSAGE_BYTES } from '../../src/ws-echo/echo.js';

// Each case starts node processes: seconds on a busy machine, not the default 5 s.
jest.setTimeout(30_000);

let bundle: string;
let server: ChildProcess;
let port: number;

/** Its stdout until the `listening on` line; the port from it. */
async function listening(child: ChildProcess): Promise<number> {
  let out = '';
  for await (const chunk of child.stdout ?? []) {
    out += String(chunk);
    const m = /^listening on 127\.0\.0\.1:(\d+)\n/.exec(out);
    if (m?.[1]) return Number(m[1]);
  }
  throw new Error(`exited before listening; stdout ${JSON.stringify(out)}`);
}

const echoServer = (...args: string[]): ChildProcess =>
  spawn(process.execPath, [join(dirname(bundle), 'ws-echo.mjs'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });

async function connect(): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  return ws;
}

/** The next message and whether it was binary. */
async function next(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  const [data, isBinary] = (await once(ws, 'message')) as [Buffer, boolean];
  return { data, isBinary };
}

beforeAll(async () => {
  bundle = buildBundle();
  server = echoServer('0', '127.0.0.1');
  port = await listening(server);
}, 60_000);

afterAll(() => {
  if (server.exitCode === null) server.kill('SIGKILL');
  removeBundle(bundle);
});

test('echoes text as text and binary as binary, byte for byte', async () => {
  const ws = await connect();
  ws.send('héllo ✓');
  const text = await next(ws);
  expect(text).toEqual({ data: Buffer.from('héllo ✓'), isBinary: false });
  const bytes = randomBytes(MAX_MESSAGE_BYTES);
  ws.send(bytes);
  const binary = await next(ws);
  expect(binary.isBinary).toBe(true);
  expect(binary.data.equals(bytes)).toBe(true);
  ws.close();
  await once(ws, 'close');
});

test('a message over the limit closes that connection with 1009, and only that one', async () => {
  const big = await connect();
  const other = await connect();
  big.send(Buffer.alloc(MAX_MESSAGE_BYTES + 1));
  const [code] = (await once(big, 'close')) as [number];
  expect(code).toBe(1009);
  other.send('still here');
  expect((await next(other)).data.toString()).toBe('still here');
  other.close();
});

test('a client that sends but does not read is not read either past a few MiB (backpressure)', async () => {
  const ws = await connect();
  ws.pause(); // reads nothing: its echoes queue in the server
  const total = 48;
  for (let i = 0; i < total; i++) ws.send(Buffer.alloc(MAX_MESSAGE_BYTES, i));
  // Nothing to await for "the server stopped reading": give it time to read, then look. Without
  // backpressure it reads all 48 MiB within it (the client's buffer empties); with it, a few MiB
  // (its high-water mark and the sockets' buffers) leave the client.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect(ws.bufferedAmount).toBeGreaterThan(24 * MAX_MESSAGE_BYTES);
  // reading again, every echo arrives, in order
  let received = 0;
  const all = new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      if (data.length !== MAX_MESSAGE_BYTES || data[0] !== received % 256)
        reject(new Error(`echo ${received}`));
      if (++received === total) resolve();
    });
  });
  ws.resume();
  await all;
  ws.close();
});

test('bad arguments exit 2 with a message naming the argument', async () => {
  for (const [args, name] of [
    [['ninety'], 'port'],
    [['70000'], 'port'],
    [[''], 'port'],
    [['0x1F'], 'port'],
    [['8080', ''], 'host'],
    [[], 'arguments'],
  ] as const) {
    const child = echoServer(...args);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect({ args, code, named: stderr.startsWith(`sandbank-ws-echo: ${name}: `) }).toEqual({
      args,
      code: 2,
      named: true,
    });
  }
});

test('SIGTERM closes its clients with 1001 and exits 0', async () => {
  const ws = await connect();
  const closed = once(ws, 'close');
  const exited = once(server, 'exit');
  server.kill('SIGTERM');
  const [code] = (await closed) as [number];
  expect(code).toBe(1001);
  expect((await exited)[0]).toBe(0);
});
