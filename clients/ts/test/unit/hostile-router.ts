/**
 * A loopback server on port 0 that plays the router for the client's unit tests, honest or not:
 * each test gives the HTTP handler and, for WebSocket exec, the session handler. It records every
 * request (method, URL, headers, body) so tests can check what the client sent.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Agent } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type WebSocket from 'ws';
import type { RouterConnection, SandboxTarget } from '../../src/connection.js';

export interface Recorded {
  readonly method: string;
  readonly url: URL;
  /** The request target as it arrived (URL parsing resolves dot segments, even encoded ones). */
  readonly rawUrl: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer, index: number) => void;
export type WsHandler = (ws: WebSocket, req: IncomingMessage) => void;

export interface FakeRouter {
  readonly conn: RouterConnection;
  readonly requests: Recorded[];
  /** The raw sockets of accepted connections (a test can cut one). */
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

export const TARGET: SandboxTarget = { namespace: 'team-a', claimName: 'claim-1', sandboxName: 'sb-1' };
export const PREFIX = '/v1/namespaces/team-a/sandboxes/sb-1';
export const CLAIM_PREFIX = '/v1/namespaces/team-a/sandboxclaims/claim-1';

/** Sends `status` with the router's JSON error envelope and code header. */
export function routerError(
  res: ServerResponse,
  status: number,
  code: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-sandbank-error-code': code, ...extra });
  res.end(JSON.stringify({ error: { code, message: `${code} for the test` } }));
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * Starts the fake router. `http` answers plain requests (their bodies read whole first, unless
 * `streamBodies`: then the handler gets an empty buffer and reads `req` itself).
 */
export async function startFakeRouter(
  http: HttpHandler,
  ws?: WsHandler,
  options: { streamBodies?: boolean } = {},
): Promise<FakeRouter> {
  const requests: Recorded[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const record = (body: Buffer): number =>
      requests.push({ method: req.method ?? '', url, rawUrl: req.url ?? '', headers: req.headers, body }) - 1;
    if (options.streamBodies) {
      http(req, res, Buffer.alloc(0), record(Buffer.alloc(0)));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      http(req, res, body, record(body));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  if (ws) {
    const wss = new WebSocketServer({
      server,
      handleProtocols: (protocols) => (protocols.has('sandbank.exec.v1') ? 'sandbank.exec.v1' : false),
    });
    wss.on('connection', (socket, req) => {
      const url = new URL(req.url ?? '/', 'http://fake');
      requests.push({
        method: 'WS',
        url,
        rawUrl: req.url ?? '',
        headers: req.headers,
        body: Buffer.alloc(0),
      });
      ws(socket, req);
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true });
  return {
    requests,
    sockets,
    conn: {
      origin: new URL(`http://127.0.0.1:${port}`),
      agent,
      headers: { authorization: 'Bearer test-token-0123456789' },
      close: async () => agent.destroy(),
    },
    close: async () => {
      agent.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const EXIT = {
  exitCode: 0,
  signal: '',
  timedOut: false,
  oomKilled: false,
  stdoutTruncated: false,
  stderrTruncated: false,
  durationMs: 12,
};

export function processBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'p-1',
    pid: 42,
    command: 'sh -c work',
    state: 'running',
    exit: null,
    startedAt: '2026-01-02T03:04:05.000Z',
    endedAt: null,
    firstOffset: 0,
    endOffset: 0,
    stdinOpen: false,
    ...over,
  };
}

/** One attach frame: kind, offset (8 bytes BE), length (4 bytes BE), payload. */
export function frame(kind: number, offset: number, payload: Uint8Array | string | object): Buffer {
  const data =
    typeof payload === 'string'
      ? Buffer.from(payload)
      : payload instanceof Uint8Array
        ? Buffer.from(payload)
        : Buffer.from(JSON.stringify(payload));
  const header = Buffer.alloc(13);
  header.writeUInt8(kind, 0);
  header.writeBigUInt64BE(BigInt(offset), 1);
  header.writeUInt32BE(data.byteLength, 9);
  return Buffer.concat([header, data]);
}

export function attachedFrame(offset: number, process: Record<string, unknown> = processBody()): Buffer {
  return frame(0, offset, { startOffset: offset, bytesDropped: false, process });
}

export const ATTACH_HEADERS = { 'content-type': 'application/vnd.sandbank.process-output' };
