/**
 * A hostile "pod" for the router's tests: a raw TCP server on a loopback address that answers each
 * HTTP request with whatever bytes its script says (bad status lines, 1xx storms, huge headers,
 * resets, trickles), which no well-behaved HTTP server library would let a test send.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

/** One step of a scripted answer. */
export type Step =
  | { readonly write: string | Buffer }
  /** Writes `times` copies of `write`, yielding between them (a storm, not one big buffer). */
  | { readonly repeat: string | Buffer; readonly times: number }
  /** Writes `repeat` again and again until the router goes away. */
  | { readonly forever: string | Buffer }
  | { readonly delayMs: number }
  /** Half-closes (FIN) after what was written. */
  | { readonly end: true }
  /** Drops the connection with a TCP RST. */
  | { readonly reset: true }
  /** Holds the connection open, saying nothing, until the router goes away. */
  | { readonly hang: true };

export type Script = readonly Step[];

export interface HostileUpstream {
  readonly ip: string;
  readonly port: number;
  /** The script of the request whose path is `/script/<id>` or that has header `x-script: <id>`. */
  register(script: Script): string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Requests answered with their script so far. */
  readonly served: number;
  close(): Promise<void>;
}

const ended = (socket: Socket): boolean => socket.destroyed || !socket.writable;

async function play(socket: Socket, script: Script): Promise<void> {
  const write = (bytes: string | Buffer): Promise<void> =>
    new Promise((resolve) => {
      if (ended(socket)) return resolve();
      if (socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes)) resolve();
      else socket.once('drain', resolve).once('close', resolve);
    });
  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  for (const step of script) {
    if (ended(socket)) return;
    if ('write' in step) await write(step.write);
    else if ('repeat' in step) {
      for (let i = 0; i < step.times && !ended(socket); i++) {
        await write(step.repeat);
        if (i % 64 === 0) await tick();
      }
    } else if ('forever' in step) {
      for (let i = 0; !ended(socket); i++) {
        await write(step.forever);
        if (i % 64 === 0) await tick();
      }
    } else if ('delayMs' in step) {
      await new Promise((resolve) => setTimeout(resolve, step.delayMs));
    } else if ('end' in step) socket.end();
    else if ('reset' in step) {
      socket.resetAndDestroy();
      return;
    } else {
      await new Promise((resolve) => socket.once('close', resolve));
      return;
    }
  }
  if (!ended(socket)) socket.end();
}

export async function startHostileUpstream(ip: string): Promise<HostileUpstream> {
  const scripts = new Map<string, Script>();
  const sockets = new Set<Socket>();
  let next = 0;
  let connections = 0;
  let served = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) {
        if (head.length > 64 * 1024) socket.destroy();
        return;
      }
      socket.off('data', onData);
      // The request body (if any) is read and ignored, so the router's writes never stall.
      socket.resume();
      // The script is named by the path (`/script/<id>`) or, for fixed paths, `x-script: <id>`.
      const id =
        /^[A-Z]+ \/script\/([0-9]+)[ ?/]/.exec(head)?.[1] ?? /\r\nx-script: ?([0-9]+)\r\n/i.exec(head)?.[1];
      const script = id === undefined ? undefined : scripts.get(id);
      if (id !== undefined) scripts.delete(id);
      if (script !== undefined) served++;
      play(socket, script ?? [{ write: 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n' }]).catch(() =>
        socket.destroy(),
      );
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, ip, () => resolve());
  });
  return {
    ip,
    port: (server.address() as AddressInfo).port,
    register(script) {
      const id = String(next++);
      scripts.set(id, script);
      return id;
    },
    get connections() {
      return connections;
    },
    get served() {
      return served;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
