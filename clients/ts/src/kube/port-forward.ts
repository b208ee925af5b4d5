/**
 * Dev mode's tunnel, with no kubectl: a listener on 127.0.0.1, port 0, and for each connection to
 * it one port-forward stream to the router's Pod through the API server (@kubernetes/client-node's
 * `PortForward`: a WebSocket speaking the `*.channel.k8s.io` protocols). The kubeconfig's
 * credentials go only to the API server; what flows through the tunnel is the router's traffic.
 *
 * The Pod is looked up for the first connection and kept; after a connection fails to open, the
 * next one looks again (a restarted router is a new Pod).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { PortForward } from '@kubernetes/client-node';
import type WebSocket from 'ws';
import { PortForwardError } from '../client-errors.js';
import { API_TIMEOUT_MS, messageOf, type KubeApi } from './api.js';
import type { ForwardTarget } from './cluster.js';

/**
 * Forwarded connections open at once. The client's own keep-alive agent opens a handful; the
 * bound only stops a runaway caller from opening a stream to the API server per socket without end.
 */
export const MAX_FORWARDED_CONNECTIONS = 64;
/** Bytes kept of what the far end wrote on a stream's error channel, for the error message. */
const MAX_ERROR_BYTES = 1024;

export interface LocalPortForward {
  /** The local port (on 127.0.0.1). */
  readonly port: number;
  /** What went wrong last with a forwarded connection, for error messages; empty when nothing did. */
  lastError(): string;
  /** Stops listening and ends every forwarded connection. Idempotent. */
  close(): Promise<void>;
}

export interface PortForwardOptions {
  readonly api: KubeApi;
  readonly namespace: string;
  /** Finds the Pod and port to forward to (a Ready Pod behind the router's Service). */
  readonly target: () => Promise<ForwardTarget>;
}

export async function startPortForward(options: PortForwardOptions): Promise<LocalPortForward> {
  const forward = new PortForward(options.api.kc);
  const open = new Set<Socket>();
  let target: Promise<ForwardTarget> | undefined;
  let last = '';

  const fail = (socket: Socket, what: string): void => {
    last = what;
    target = undefined;
    socket.destroy();
  };

  const relay = async (socket: Socket): Promise<void> => {
    target ??= options.target();
    const { pod, port } = await target;
    const where = `pod ${options.namespace}/${pod} port ${port}`;
    // The error channel carries one message, once the far end could not reach the port (its
    // first frame, the port number, arrives here empty: client-node strips it).
    const errors = new Writable({
      write(chunk: Buffer, _encoding, done) {
        if (chunk.length > 0) fail(socket, `${where}: ${chunk.toString('utf8', 0, MAX_ERROR_BYTES)}`);
        done();
      },
    });
    // An API server that never completes the upgrade must not hold the local socket (and one of
    // the MAX_FORWARDED_CONNECTIONS slots) for ever; a stream that opens late is closed below.
    const stalled = setTimeout(
      () => fail(socket, `${where}: the API server did not open the forward within ${API_TIMEOUT_MS} ms`),
      API_TIMEOUT_MS,
    );
    const opened = await forward
      .portForward(options.namespace, pod, [port], socket, errors, socket)
      .finally(() => clearTimeout(stalled));
    const ws: WebSocket | null = typeof opened === 'function' ? opened() : opened;
    if (!ws) throw new Error(`${where}: no stream`);
    ws.on('close', () => socket.end());
    ws.on('error', (error) => fail(socket, `${where}: ${messageOf(error)}`));
    if (socket.destroyed) ws.close();
    else socket.on('close', () => ws.close());
  };

  const server: Server = createServer((socket) => {
    if (open.size >= MAX_FORWARDED_CONNECTIONS) {
      last = `more than ${MAX_FORWARDED_CONNECTIONS} forwarded connections at once`;
      socket.destroy();
      return;
    }
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
    relay(socket).catch((error: unknown) => fail(socket, messageOf(error)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new PortForwardError(`cannot listen on 127.0.0.1: ${messageOf(error)}`)),
    );
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let closing: Promise<void> | undefined;
  return {
    port,
    lastError: () => last,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}
