/**
 * A hostile or broken router: a request taken and never answered; attach frames oversized,
 * truncated, garbled, out of order or stalled mid-frame; WebSocket frames of no known stream,
 * garbled, oversized or stalled; a reader that does not keep up. Each ends in a typed error within
 * a bounded time and bounded memory, never a hang.
 */
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Files } from '../../src/files.js';
import { MAX_ATTEMPTS } from '../../src/http/retry.js';
import type WebSocket from 'ws';
import { Commands } from '../../src/commands/commands.js';
import { MAX_CHUNK_BYTES } from '../../src/commands/attach-frames.js';
import { ClientTimeout, ProtocolError, RouterUnreachable, StreamClosed } from '../../src/errors.js';
import { Ports } from '../../src/ports.js';
import type { RouterConnection } from '../../src/connection.js';
import {
  ATTACH_HEADERS,
  attachedFrame,
  EXIT,
  frame,
  json,
  startFakeRouter,
  TARGET,
} from './hostile-router.js';
import type { FakeRouter } from './hostile-router.js';

let router: FakeRouter | undefined;
afterEach(async () => {
  await router?.close();
  router = undefined;
});

/** A router whose attach answer is `body` (then the response ends, unless `hold`). */
async function attachWith(body: Buffer, hold = false): Promise<Commands> {
  router = await startFakeRouter((_req, res) => {
    res.writeHead(200, ATTACH_HEADERS);
    if (hold) res.write(body);
    else res.end(body);
  });
  return new Commands(router.conn, TARGET);
}

async function readAll(
  commands: Commands,
  options: { follow?: boolean; stallMs?: number } = {},
): Promise<string> {
  const attachment = await commands.attach('p-1', options);
  let out = '';
  for await (const chunk of attachment) out += Buffer.from(chunk.data).toString();
  return out;
}

describe('attach', () => {
  test('a header announcing an oversized chunk is refused before its payload arrives', async () => {
    const header = frame(1, 0, Buffer.alloc(0));
    header.writeUInt32BE(MAX_CHUNK_BYTES + 1, 9);
    // Only the header is sent and the response stays open: waiting for the payload would hang.
    const commands = await attachWith(Buffer.concat([attachedFrame(0), header]), true);
    await expect(readAll(commands)).rejects.toThrow(/a payload of 1048577 bytes/);
  });

  test('a body that ends inside a frame is a ProtocolError', async () => {
    const commands = await attachWith(
      Buffer.concat([attachedFrame(0), frame(1, 0, 'abcdef').subarray(0, 16)]),
    );
    await expect(readAll(commands, { follow: false })).rejects.toThrow(/ended inside a frame/);
  });

  test('an unknown kind, output before attached, offsets going back, an empty chunk', async () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.concat([attachedFrame(0), frame(9, 0, 'x')]), /unknown kind 9/],
      [frame(1, 0, 'x'), /before attached/],
      [Buffer.concat([attachedFrame(0), frame(1, 5, 'abc'), frame(1, 6, 'zz')]), /offsets go back/],
      [Buffer.concat([attachedFrame(0), frame(1, 0, '')]), /empty output chunk/],
      [
        Buffer.concat([attachedFrame(0), frame(1, 0, 'x'), frame(3, 1, EXIT), frame(1, 1, 'y')]),
        /after exit/,
      ],
      [frame(0, 0, 'not json'), /not JSON/],
      [frame(0, 4, { startOffset: 4, bytesDropped: false, process: {} }), /^attached\.process\./],
    ];
    for (const [body, error] of cases) {
      const commands = await attachWith(body);
      await expect(readAll(commands)).rejects.toThrow(error);
      await router?.close();
      router = undefined;
    }
  });

  test('a resumed connection that starts before what was already received is refused', async () => {
    let calls = 0;
    router = await startFakeRouter((_req, res) => {
      res.writeHead(200, ATTACH_HEADERS);
      calls++;
      if (calls === 1) {
        res.write(Buffer.concat([attachedFrame(0), frame(1, 0, 'abcd')]));
        setImmediate(() => res.socket?.destroy());
      } else res.end(Buffer.concat([attachedFrame(0), frame(1, 0, 'abcd')])); // replays from 0
    });
    await expect(readAll(new Commands(router.conn, TARGET))).rejects.toThrow(/asked from 4/);
  });

  test('a router that keeps cutting without progress ends in StreamClosed naming the offset', async () => {
    router = await startFakeRouter((_req, res) => {
      res.writeHead(200, ATTACH_HEADERS);
      res.write(attachedFrame(0));
      setImmediate(() => res.socket?.destroy());
    });
    await expect(readAll(new Commands(router.conn, TARGET))).rejects.toThrow(StreamClosed);
  });

  test('a stall inside a frame is a ProtocolError after stallMs; a quiet stream between frames is not', async () => {
    const partial = frame(1, 0, 'abcdef').subarray(0, 15);
    const commands = await attachWith(Buffer.concat([attachedFrame(0), partial]), true);
    const started = Date.now();
    await expect(readAll(commands, { stallMs: 200 })).rejects.toThrow(/stalled inside a frame/);
    expect(Date.now() - started).toBeLessThan(10_000);
    await router?.close();
    // Between frames: the process is just quiet; the caller's abort is what ends the wait.
    const quiet = await attachWith(Buffer.concat([attachedFrame(0), frame(1, 0, 'hi')]), true);
    const controller = new AbortController();
    const attachment = await quiet.attach('p-1', { stallMs: 100, signal: controller.signal });
    const iterator = attachment[Symbol.asyncIterator]();
    expect(Buffer.from((await iterator.next()).value?.data ?? []).toString()).toBe('hi');
    const next = iterator.next();
    setTimeout(() => controller.abort(new Error('enough')), 400);
    await expect(next).rejects.toThrow('enough');
  });

  test('an answer that is not the attach stream is a ProtocolError', async () => {
    router = await startFakeRouter((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>');
    });
    await expect(readAll(new Commands(router.conn, TARGET))).rejects.toThrow(/not the attach stream/);
  });
});

/** A server that completes the WebSocket handshake by hand and then runs `after` on the raw socket. */
async function rawWebSocketRouter(
  after: (socket: Socket) => void,
): Promise<{ conn: RouterConnection; close: () => Promise<void> }> {
  const { createHash } = await import('node:crypto');
  const server = createServer();
  const sockets = new Set<Socket>();
  server.on('upgrade', (req, socket: Socket) => {
    sockets.add(socket);
    const accept = createHash('sha1')
      .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: sandbank.exec.v1\r\n\r\n`,
    );
    after(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new Agent();
  return {
    conn: {
      origin: new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}`),
      agent,
      headers: {},
      close: async () => undefined,
    },
    close: async () => {
      agent.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An unmasked server text frame. */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
}

describe('spawn', () => {
  test('a router stalled inside a frame (no pong can come) ends the session: StreamClosed', async () => {
    const raw = await rawWebSocketRouter((socket) => {
      socket.write(textFrame('{"type":"started","pid":3}'));
      // A binary frame announcing 100 bytes, then only 3 of them, then nothing.
      socket.write(Buffer.from([0x82, 100, 1, 0x61, 0x62]));
    });
    try {
      const proc = await new Commands(raw.conn, TARGET).spawn(['x'], { heartbeatMs: 150 });
      await expect(proc.wait()).rejects.toThrow(/did not answer a ping/);
    } finally {
      await raw.close();
    }
  });

  test('a frame that breaks the WebSocket protocol itself (a reserved opcode) is a ProtocolError', async () => {
    const raw = await rawWebSocketRouter((socket) => {
      socket.write(textFrame('{"type":"started","pid":3}'));
      socket.write(Buffer.from([0x83, 0]));
    });
    try {
      const proc = await new Commands(raw.conn, TARGET).spawn(['x']);
      await expect(proc.wait()).rejects.toBeInstanceOf(ProtocolError);
    } finally {
      await raw.close();
    }
  });

  test('frames outside the protocol are ProtocolErrors', async () => {
    const cases: [(ws: WebSocket) => void, RegExp][] = [
      [(ws) => ws.send(Buffer.from([7, 1, 2])), /output before the started frame/],
      [
        (ws) => {
          ws.send(JSON.stringify({ type: 'started', pid: 1 }));
          ws.send(Buffer.from([7, 1, 2]));
        },
        /unknown stream 7/,
      ],
      [(ws) => ws.send('{not json'), /not JSON/],
      [(ws) => ws.send(JSON.stringify({ type: 'started', pid: 'one' })), /^exec frame/],
      [(ws) => ws.send(JSON.stringify({ type: 'surprise' })), /^exec frame/],
      [
        (ws) => {
          ws.send(JSON.stringify({ type: 'started', pid: 1 }));
          ws.send(JSON.stringify({ type: 'started', pid: 1 }));
        },
        /second started/,
      ],
    ];
    for (const [script, error] of cases) {
      router = await startFakeRouter(
        () => undefined,
        (ws) => ws.once('message', () => script(ws)),
      );
      const outcome = new Commands(router.conn, TARGET).spawn(['x']).then((p) => p.wait());
      await expect(outcome).rejects.toThrow(error);
      await expect(outcome).rejects.toBeInstanceOf(ProtocolError);
      await router.close();
      router = undefined;
    }
  });

  test('a message over the router maximum (16 MiB) is refused: ProtocolError', async () => {
    router = await startFakeRouter(
      () => undefined,
      (ws) =>
        ws.once('message', () => {
          ws.send(JSON.stringify({ type: 'started', pid: 1 }));
          ws.send(Buffer.alloc((16 << 20) + 2, 1));
        }),
    );
    const proc = await new Commands(router.conn, TARGET).spawn(['x']);
    await expect(proc.wait()).rejects.toThrow(/Max payload/);
    await expect(proc.wait()).rejects.toBeInstanceOf(ProtocolError);
  });

  test('a connection that closes without exit is StreamClosed', async () => {
    router = await startFakeRouter(
      () => undefined,
      (ws) =>
        ws.once('message', () => {
          ws.send(JSON.stringify({ type: 'started', pid: 1 }));
          ws.close(1000, 'bye');
        }),
    );
    const proc = await new Commands(router.conn, TARGET).spawn(['x']);
    await expect(proc.wait()).rejects.toBeInstanceOf(StreamClosed);
  });

  test('a reader that does not keep up pauses the socket: the client holds about the high-water mark', async () => {
    const CHUNK = 256 << 10;
    const CHUNKS = 48; // 12 MiB in all
    let server: WebSocket | undefined;
    router = await startFakeRouter(
      () => undefined,
      (ws) =>
        ws.once('message', () => {
          server = ws;
          ws.send(JSON.stringify({ type: 'started', pid: 1 }));
          for (let i = 0; i < CHUNKS; i++) ws.send(Buffer.concat([Buffer.from([1]), Buffer.alloc(CHUNK, i)]));
          ws.send(JSON.stringify({ type: 'exit', ...EXIT }));
          ws.close(1000, 'exit');
        }),
    );
    const proc = await new Commands(router.conn, TARGET).spawn(['yes']);
    const iterator = proc.stdout[Symbol.asyncIterator]();
    let received = (await iterator.next()).value?.byteLength ?? 0;
    // Server and client share this event loop: while the client reads, the sender's buffer drains.
    // It standing still for several turns means the client stopped reading (its socket is paused).
    let still = 0;
    let last = -1;
    while (still < 5 && proc.stdout.queuedBytes <= 4 << 20) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const now = server?.bufferedAmount ?? 0;
      still = now === last && now > 0 ? still + 1 : 0;
      last = now;
    }
    expect(proc.stdout.queuedBytes).toBeLessThanOrEqual((1 << 20) + 2 * CHUNK);
    expect(server?.bufferedAmount).toBeGreaterThan(0);
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      received += next.value.byteLength;
    }
    expect(received).toBe(CHUNK * CHUNKS);
    expect((await proc.wait()).exitCode).toBe(0);
  }, 30_000);
});

describe('a router that never finishes connecting', () => {
  test('each attempt gives up at the connect limit; the call, resent as for a refused connection, ends RouterUnreachable', async () => {
    // Accepts TCP connections and never speaks TLS: without a connect limit a call waits for ever.
    const held = new Set<Socket>();
    const server = createNetServer((socket) => {
      held.add(socket);
      socket.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const agent = new HttpsAgent({ keepAlive: true });
    const conn: RouterConnection = {
      origin: new URL(`https://127.0.0.1:${port}`),
      agent,
      headers: {},
      connectTimeoutMs: 100,
      close: async () => agent.destroy(),
    };
    try {
      const failure = await new Files(conn, TARGET).stat('/x').then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(RouterUnreachable);
      expect((failure as Error).message).toMatch(/no connection to the router within 100 ms/);
      expect(held.size).toBe(MAX_ATTEMPTS);
    } finally {
      agent.destroy();
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('a router that takes the request and never answers', () => {
  /** A router that reads each request whole and answers only when `answer` says so, after `afterMs`. */
  async function silentRouter(
    answer: (path: string) => number | undefined,
    headersTimeoutMs = 100,
  ): Promise<RouterConnection> {
    router = await startFakeRouter((req, res) => {
      const afterMs = answer(req.url ?? '');
      if (afterMs === undefined) return; // accepted, read, and never a header
      setTimeout(() => {
        if (req.url?.includes('/exec')) json(res, 200, { ...EXIT, stdout: '', stderr: '', encoding: 'utf8' });
        else if (req.url?.includes('/ports/')) res.end('slow app');
        else json(res, 200, { name: 'x', path: 'x', size: 1, type: 'file', mode: 0o644 });
      }, afterMs);
    });
    return { ...router.conn, headersTimeoutMs };
  }

  test('a quick call without timeoutMs gives up at the header limit, once, naming the call', async () => {
    const conn = await silentRouter(() => undefined);
    const failure = await new Files(conn, TARGET).stat('x').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ClientTimeout);
    expect(failure).toMatchObject({ code: 'client_timeout' });
    expect((failure as Error).message).toMatch(
      /^GET \/v1\/namespaces\/team-a\/sandboxes\/sb-1\/stat: the router sent no answer headers within 100 ms/,
    );
    // Not resent: a router that accepts and stalls would stall the next attempt as well.
    expect(router?.requests).toHaveLength(1);
  });

  test('the limit runs from the end of the upload, and is not the whole call’s', async () => {
    // A limit well above a loaded machine's event-loop delay, an upload longer than the limit.
    const conn = await silentRouter(() => 0, 1_000);
    const slowUpload = Readable.from(
      (async function* () {
        for (let i = 0; i < 3; i++) {
          await new Promise((resolve) => setTimeout(resolve, 400));
          yield Buffer.from('part');
        }
      })(),
    );
    await expect(new Files(conn, TARGET).write('x', slowUpload)).resolves.toMatchObject({ name: 'x' });
    expect(router?.requests[0]?.body.toString()).toBe('partpartpart');
  });

  test('calls whose answer legitimately comes late are not cut at the header limit', async () => {
    const conn = await silentRouter(() => 300);
    // The caller's own timeoutMs replaces the header limit.
    await expect(new Files(conn, TARGET).stat('x', { timeoutMs: 5_000 })).resolves.toMatchObject({
      name: 'x',
    });
    // The router answers an exec only once the command ended.
    await expect(new Commands(conn, TARGET).run('sleep 0.3')).resolves.toMatchObject({ exitCode: 0 });
    // The agent answers a stdin write once the process took the bytes.
    await expect(new Commands(conn, TARGET).writeStdin('p-1', 'x')).resolves.toBeUndefined();
    // A sandbox's app answers when it does; the router bounds it with its own idle timeout.
    const app = await new Ports(conn, TARGET).request(8080);
    expect(await app.text()).toBe('slow app');
  });
});
