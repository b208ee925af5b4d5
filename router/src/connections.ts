/**
 * The router-wide cap on open connections: HTTP (WebSocket sessions included, they are upgraded
 * HTTP connections) and gRPC count against one number. A connection past the cap is closed the
 * moment it is accepted, before a byte of it is read (or a TLS handshake started), so a flood of
 * idle sockets cannot exhaust the router's memory or file descriptors. Clients see the connection
 * reset and retry; the refusals are counted in `sandbank_router_refused_connections_total`.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { Server as GrpcServer } from '@grpc/grpc-js';
import type { ServerCredentials, ServerOptions } from '@grpc/grpc-js';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

export class ConnectionCap {
  private count = 0;
  private readonly openGauge: Gauge;
  private readonly refused: Counter;

  constructor(
    private readonly max: number,
    registry: Registry,
  ) {
    // Got or made: two apps may share one registry (the metrics are then the sum of both).
    this.openGauge =
      (registry.getSingleMetric('sandbank_router_open_connections') as Gauge | undefined) ??
      new Gauge({
        name: 'sandbank_router_open_connections',
        help: 'Open client connections (HTTP, WebSocket and gRPC), counted against ROUTER_MAX_CONNECTIONS.',
        registers: [registry],
      });
    this.refused =
      (registry.getSingleMetric('sandbank_router_refused_connections_total') as Counter | undefined) ??
      new Counter({
        name: 'sandbank_router_refused_connections_total',
        help: 'Connections closed on accept because ROUTER_MAX_CONNECTIONS were open.',
        registers: [registry],
      });
  }

  /** Counts `socket` until it closes; when the router is full, destroys it and answers false. */
  admit(socket: Socket): boolean {
    if (this.count >= this.max) {
      this.refused.inc();
      socket.destroy();
      return false;
    }
    this.count++;
    this.openGauge.inc();
    socket.once('close', () => {
      this.count--;
      this.openGauge.dec();
    });
    return true;
  }

  get open(): number {
    return this.count;
  }
}

/** `host:port` or `[v6]:port`, as grpc-js's bindAsync takes them. */
function hostPort(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (!m || port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}

/**
 * A grpc-js server whose connections pass through a ConnectionCap: `bindAsync` listens with a
 * plain TCP server of its own and hands each admitted socket to grpc-js (a connection injector,
 * which does TLS itself for secure credentials). The rest of the server is grpc-js's.
 */
export class CappedGrpcServer extends GrpcServer {
  private readonly listeners = new Set<NetServer>();

  constructor(
    private readonly cap: ConnectionCap,
    options?: ServerOptions,
    /** A listener's failure after it listens (accept errors such as EMFILE). */
    private readonly onListenerError: (error: Error) => void = () => undefined,
  ) {
    super(options);
  }

  override bindAsync(
    port: string,
    creds: ServerCredentials,
    callback: (error: Error | null, port: number) => void,
  ): void {
    const address = hostPort(port);
    if (!address) {
      process.nextTick(() => callback(new Error(`gRPC address ${port}: expected host:port or [v6]:port`), 0));
      return;
    }
    const injector = this.createConnectionInjector(creds);
    const listener = createServer((socket) => {
      if (this.cap.admit(socket)) injector.injectConnection(socket);
    });
    this.listeners.add(listener);
    const failed = (error: Error): void => {
      this.listeners.delete(listener);
      injector.destroy();
      callback(error, 0);
    };
    listener.once('error', failed);
    listener.listen(address.port, address.host === '' ? undefined : address.host, () => {
      listener.off('error', failed);
      listener.on('error', this.onListenerError);
      callback(null, (listener.address() as AddressInfo).port);
    });
  }

  override tryShutdown(callback: (error?: Error) => void): void {
    this.closeListeners();
    super.tryShutdown(callback);
  }

  override forceShutdown(): void {
    this.closeListeners();
    super.forceShutdown();
  }

  private closeListeners(): void {
    for (const l of this.listeners) l.close();
    this.listeners.clear();
  }
}
