/**
 * The port route's WebSocket form against a hostile pod: a raw TCP server on a loopback address
 * answers the forwarded upgrade however its test says (a bad 101, nothing at all, endless
 * headers, a flood), and a raw TCP client speaks to the real router. Whatever the pod does, the
 * client gets either a real tunnel or the router's own error, and the router holds no socket and
 * no buffer longer or larger than its limits allow.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { jest } from '@jest/globals';
import { namespaceScope, tokenAuthenticator } from '../../src/index.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

jest.setTimeout(60_000);

const TOKEN = 'hostile-upgrade-token-0123456789';
const POD_IP = '127.0.0.64';
/** The port route's header cap here: under Node's own 16 KiB, so the router's cap is what refuses. */
const MAX_HEADER_BYTES = 8 * 1024;
/**
 * How soon the pod's connection must close once the client has its answer: well under the HTTP
 * agent's 5 s keep-alive, which would otherwise hold a refused connection open on the pod's word.
 */
const PROMPTLY_MS = 2_000;
/** The short-idle router's timeout: long enough for a loaded machine to open a tunnel within. */
const SHORT_IDLE_MS = 1_000;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const acceptFor = (key: string): string =>
  createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');

/** What the pod does with one upgrade request, given its socket and the client's key. */
type Behaviour = (socket: Socket, key: string) => void;

/** One upgrade the pod received: its socket, and a promise of that socket's close. */
interface PodConnection {
  readonly socket: Socket;
  readonly closed: Promise<void>;
}

let pod: Server;
let podPort: number;
const behaviours = new Map<string, Behaviour>();
const arrivals = new Map<string, (c: PodConnection) => void>();
let router: TestRouter;
let shortIdle: TestRouter;

/** Registers `behaviour` for path `/<name>`; resolves with the pod's side once the request arrives. */
function onPod(name: string, behaviour: Behaviour): Promise<PodConnection> {
  behaviours.set(name, behaviour);
  return new Promise((resolve) => arrivals.set(name, resolve));
}

function startPod(): Promise<void> {
  pod = createServer((socket) => {
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) {
        if (head.length > 64 * 1024) socket.destroy();
        return;
      }
      socket.off('data', onData);
      const name = /^GET \/([a-z0-9-]+) /.exec(head)?.[1] ?? '';
      const key = /\r\nsec-websocket-key: *([^\r]*)\r\n/i.exec(head)?.[1] ?? '';
      const behaviour = behaviours.get(name);
      if (behaviour === undefined) {
        socket.destroy();
        return;
      }
      arrivals.get(name)?.({ socket, closed });
      behaviour(socket, key);
    };
    socket.on('data', onData);
  });
  return new Promise((resolve) =>
    pod.listen(0, POD_IP, () => {
      podPort = (pod.address() as AddressInfo).port;
      resolve();
    }),
  );
}

beforeAll(async () => {
  await startPod();
  const options = (portIdleTimeoutMs: number) => ({
    lookup: staticLookup([{ namespace: 'default', name: 'pod', ip: POD_IP, ports: [podPort] }]),
    auth: tokenAuthenticator({ alice: { token: TOKEN, namespaces: namespaceScope(['default']) } }),
    limits: { portIdleTimeoutMs, portMaxResponseHeaderBytes: MAX_HEADER_BYTES },
  });
  router = await startRouter(options(60_000));
  shortIdle = await startRouter(options(SHORT_IDLE_MS));
});

afterAll(async () => {
  await router?.close();
  await shortIdle?.close();
  await new Promise((resolve) => pod?.close(resolve));
});

/** The client's side of one upgrade: its socket, the router's answer head, and bytes after it. */
interface ClientUpgrade {
  readonly socket: Socket;
  readonly status: number;
  readonly head: string;
  readonly rest: Buffer;
  readonly key: string;
}

/** Sends an upgrade for the pod's path `/<name>` through `via`; resolves with the router's answer. */
function upgrade(name: string, via = router, { withKey = true } = {}): Promise<ClientUpgrade> {
  const key = randomBytes(16).toString('base64');
  const socket = connect((via.app.server.address() as AddressInfo).port, '127.0.0.1');
  socket.write(
    `GET /v1/namespaces/default/sandboxclaims/pod/ports/${podPort}/${name} HTTP/1.1\r\n` +
      `host: router\r\nauthorization: Bearer ${TOKEN}\r\nconnection: Upgrade\r\nupgrade: websocket\r\n` +
      `sec-websocket-version: 13\r\n${withKey ? `sec-websocket-key: ${key}\r\n` : ''}\r\n`,
  );
  return new Promise((resolve, reject) => {
    let bytes = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]);
      const end = bytes.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      const head = bytes.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1]);
      resolve({ socket, status, head, rest: bytes.subarray(end + 4), key });
    };
    const onClose = (): void => reject(new Error(`the router closed without an answer: ${String(bytes)}`));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', () => undefined);
  });
}

/** Resolves once `socket` closed (on the client's side of the router). */
const closedClient = (socket: Socket): Promise<void> =>
  socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));

/** Reads the rest of a refused upgrade's answer (the JSON error) until the router closes. */
async function refusal(answer: ClientUpgrade): Promise<string> {
  const chunks = [answer.rest];
  answer.socket.on('data', (c: Buffer) => chunks.push(c));
  answer.socket.resume();
  await closedClient(answer.socket);
  return Buffer.concat(chunks).toString('utf8');
}

/** Resolves once the pod's side closed; fails the test if that takes longer than PROMPTLY_MS. */
async function closedPromptly(arrived: Promise<PodConnection>): Promise<void> {
  const { closed } = await arrived;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the pod's connection was still open after ${PROMPTLY_MS} ms`)),
      PROMPTLY_MS,
    );
  });
  try {
    await Promise.race([closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The router's count of pod answers refused for `reason`. */
async function rejected(reason: string): Promise<number> {
  const text = await router.app.metrics.registry.metrics();
  const line = new RegExp(`^sandbank_router_upstream_rejected_total\\{reason="${reason}"\\} (\\d+)$`, 'm');
  return Number(line.exec(text)?.[1] ?? 0);
}

/** The 101 a well-behaved pod sends, with `extra` lines and without the named headers. */
function switching(key: string, { without = [] as string[], extra = [] as string[] } = {}): string {
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptFor(key)}`,
  ].filter((line) => !without.some((name) => line.toLowerCase().startsWith(`${name}:`)));
  return `${[...lines, ...extra].join('\r\n')}\r\n\r\n`;
}

describe('a pod that answers the upgrade wrongly', () => {
  test('a well-behaved pod gets a tunnel (the baseline the refusals below differ from)', async () => {
    const arrived = onPod('good', (socket, key) => {
      socket.write(switching(key));
      socket.pipe(socket);
    });
    const answer = await upgrade('good');
    expect(answer.status).toBe(101);
    expect(answer.head.toLowerCase()).toContain(
      `sec-websocket-accept: ${acceptFor(answer.key).toLowerCase()}`,
    );
    const echoed = new Promise<string>((resolve) =>
      answer.socket.once('data', (c: Buffer) => resolve(String(c))),
    );
    answer.socket.resume();
    answer.socket.write('ping');
    expect(await echoed).toBe('ping');
    answer.socket.destroy();
    await closedPromptly(arrived);
  });

  test.each([
    ['upgrade-h2c', { without: ['upgrade'], extra: ['Upgrade: h2c'] }],
    ['no-upgrade-header', { without: ['upgrade'] }],
    ['no-connection-upgrade', { without: ['connection'] }],
    ['connection-close', { without: ['connection'], extra: ['Connection: close'] }],
    ['no-accept', { without: ['sec-websocket-accept'] }],
  ])('%s: 502 with the router error, and the pod connection is closed', async (name, shape) => {
    const arrived = onPod(name, (socket, key) => socket.write(switching(key, shape)));
    const answer = await upgrade(name);
    expect(answer.status).toBe(502);
    expect(answer.head).toMatch(/\r\nx-sandbank-error-code: upstream_failed/i);
    expect(await refusal(answer)).toMatch(/upstream_failed/);
    await closedPromptly(arrived);
  });

  test('a Sec-WebSocket-Accept for another key: 502, no tunnel, counted as bad_accept', async () => {
    const before = { accept: await rejected('bad_accept'), header: await rejected('bad_header') };
    const arrived = onPod('wrong-accept', (socket) =>
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Accept: ${acceptFor(randomBytes(16).toString('base64'))}\r\n\r\n`,
      ),
    );
    const answer = await upgrade('wrong-accept');
    expect(answer.status).toBe(502);
    expect(await refusal(answer)).toMatch(/upstream_failed/);
    await closedPromptly(arrived);
    expect(await rejected('bad_accept')).toBe(before.accept + 1);
    expect(await rejected('bad_header')).toBe(before.header);
  });

  test('a client without Sec-WebSocket-Key (its answer could not be checked): 400, the pod never dialled', async () => {
    let dialled = false;
    behaviours.set('keyless', () => (dialled = true));
    const answer = await upgrade('keyless', router, { withKey: false });
    expect(answer.status).toBe(400);
    expect(await refusal(answer)).toMatch(/sec-websocket-key/);
    expect(dialled).toBe(false);
  });

  test('a 101 with a body-like tail and then a 200: never a tunnel', async () => {
    const arrived = onPod('info-then-200', (socket) =>
      socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'),
    );
    const answer = await upgrade('info-then-200');
    expect(answer.status).toBe(502);
    await refusal(answer);
    await closedPromptly(arrived);
  });
});

describe('a pod that stalls or floods the handshake', () => {
  test('accepts the connection and never answers: 504 after the idle timeout, its socket closed', async () => {
    const arrived = onPod('silent', () => undefined);
    const started = Date.now();
    const answer = await upgrade('silent', shortIdle);
    expect(answer.status).toBe(504);
    expect(await refusal(answer)).toMatch(/idle/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(SHORT_IDLE_MS - 100);
    await closedPromptly(arrived);
  });

  test('the client leaves while the pod says nothing: the pod connection closes at once, not at the idle timeout', async () => {
    const arrived = onPod('silent-abandoned', () => undefined);
    const key = randomBytes(16).toString('base64');
    const client = connect((router.app.server.address() as AddressInfo).port, '127.0.0.1');
    client.on('error', () => undefined);
    client.write(
      `GET /v1/namespaces/default/sandboxclaims/pod/ports/${podPort}/silent-abandoned HTTP/1.1\r\n` +
        `host: router\r\nauthorization: Bearer ${TOKEN}\r\nconnection: Upgrade\r\nupgrade: websocket\r\n` +
        `sec-websocket-version: 13\r\nsec-websocket-key: ${key}\r\n\r\n`,
    );
    const podSide = await arrived;
    client.destroy();
    // The router's idle timeout here is 60 s: only the client's leaving can end it this soon.
    await closedPromptly(Promise.resolve(podSide));
  });

  test("101 headers over portMaxResponseHeaderBytes (under Node's own cap): 502", async () => {
    const arrived = onPod('big-headers', (socket, key) =>
      socket.write(switching(key, { extra: [`x-pad: ${'a'.repeat(MAX_HEADER_BYTES + 4 * 1024)}`] })),
    );
    const answer = await upgrade('big-headers');
    expect(answer.status).toBe(502);
    expect(await refusal(answer)).toMatch(/upstream_failed/);
    await closedPromptly(arrived);
  });

  test('101 headers without end: 502, the pod cut off while still sending', async () => {
    let sent = 0;
    const arrived = onPod('endless-headers', (socket, key) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`);
      socket.write(`Sec-WebSocket-Accept: ${acceptFor(key)}\r\n`);
      const line = `x-pad: ${'a'.repeat(1000)}\r\n`;
      const more = (): void => {
        while (!socket.destroyed && socket.write(line)) sent += line.length;
      };
      socket.on('drain', more);
      more();
    });
    const answer = await upgrade('endless-headers');
    expect(answer.status).toBe(502);
    await refusal(answer);
    await closedPromptly(arrived);
    // Refused at the cap, not after buffering what the pod sent: the kernel's socket buffers
    // hold some megabytes at most, nowhere near what an unbounded reader would have taken.
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });
});

describe('a pod that floods an open tunnel', () => {
  test('a client that stops reading pauses the pod: the router buffers a bounded amount', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    let paused: (() => void) | undefined;
    const stalled = new Promise<void>((resolve) => (paused = resolve));
    const arrived = onPod('flood', (socket, key) => {
      socket.write(switching(key));
      const more = (): void => {
        while (!socket.destroyed && sent < 256 * 1024 * 1024) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            // Paused: the pod waits for drain; if none comes for a while, the router stopped reading.
            const timer = setTimeout(() => paused?.(), 500);
            socket.once('drain', () => {
              clearTimeout(timer);
              more();
            });
            return;
          }
        }
        paused?.();
      };
      more();
    });
    let routerSide: Socket | undefined;
    const onUpgrade = (req: { socket: Socket }): void => void (routerSide = req.socket);
    router.app.server.prependOnceListener('upgrade', onUpgrade);
    const answer = await upgrade('flood');
    expect(answer.status).toBe(101);
    const podSide = await arrived;
    await stalled;
    // The client read nothing past the handshake: what the pod got out sits in kernel buffers
    // (some MiB per hop on loopback) and the router's bounded stream buffers, never in a heap
    // buffer that grows with the flood.
    expect(sent).toBeLessThan(128 * 1024 * 1024);
    expect(routerSide?.writableLength ?? Infinity).toBeLessThan(4 * 1024 * 1024);
    expect(podSide.socket.writableLength).toBeGreaterThan(0);
    // Reading again drains the backlog and the pod goes on: the tunnel was paused, not broken.
    const before = sent;
    let received = answer.rest.length;
    const moreArrived = new Promise<void>((resolve) =>
      answer.socket.on('data', (c: Buffer) => {
        received += c.length;
        if (received > before) resolve();
      }),
    );
    answer.socket.resume();
    await moreArrived;
    answer.socket.destroy();
    await podSide.closed;
  });
});
