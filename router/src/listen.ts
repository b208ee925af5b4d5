/**
 * Binds a built router app (app.ts never listens) the way the configuration says: with TLS, the
 * HTTP server (already an https.Server, built with the same pair) and the gRPC passthrough speak
 * only TLS, and a watcher swaps a renewed certificate into both; without TLS, plain HTTP, which
 * config.ts allows only on loopback or with the explicit opt-out (logged loudly here). The metrics
 * port, when separate, stays plain: it serves only metrics and takes no credentials.
 *
 * No network address ever gets a plaintext listener beside a TLS one: a client cannot be talked
 * down. The one exception is token-less tunnel mode (`portForward`, auth/port-forward.ts): a
 * listener on 127.0.0.1 and ::1 that also takes plain HTTP, on the HTTP port itself, because that is where
 * `kubectl port-forward` arrives (the CRI dials localhost:<targetPort> inside the pod's network
 * namespace); nothing crosses a network there, the API server's tunnel did. The network
 * listener must then be bound to the pod's own addresses (config.ts refuses a wildcard, which
 * would take those loopback connections itself).
 */
import { createServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { ServerCredentials } from '@grpc/grpc-js';
import type { RouterApp } from './app.js';
import type { Transport } from './config.js';
import type { Logger } from './observability/logger.js';
import {
  CertificateWatcher,
  ReloadableServerCredentials,
  checkTlsMaterial,
  secureContextOptions,
} from './tls.js';
import type { ReloadOutcome } from './tls.js';

export interface ListenOptions {
  /** The metrics listener's address, and the HTTP and gRPC ports' when `networkHosts` is absent. */
  readonly host: string;
  /** The HTTP and gRPC ports' addresses (the pod's IPs); default `[host]`. */
  readonly networkHosts?: readonly string[];
  /** Also serve the HTTP port in plain HTTP on 127.0.0.1 and ::1 (the app must be built with portForward). */
  readonly portForward?: boolean;
  readonly port: number;
  readonly grpcPort: number;
  /** 0: no separate metrics listener (the app serves /metrics itself). */
  readonly metricsPort: number;
  readonly transport: Transport;
  readonly log: Logger;
}

export interface RouterListeners {
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly metricsPort: number | undefined;
  readonly tls: boolean;
  /** The loopback addresses the port-forward listener is bound to (none when it is off). */
  readonly portForwardAddresses: readonly string[];
  /** Re-reads the certificate files now (the watcher does it every reloadMs); 'unchanged' without TLS. */
  reloadCertificate(): Promise<ReloadOutcome>;
  /** Stops the watcher and the metrics listener; `app.close()` drains and closes the rest. */
  close(): Promise<void>;
}

export async function listenRouter(app: RouterApp, opts: ListenOptions): Promise<RouterListeners> {
  const { transport, log } = opts;
  const https = app.server instanceof HttpsServer ? app.server : undefined;
  // Both come from one configuration; a mismatch would serve one port in plaintext.
  if ((transport.kind === 'tls') !== (https !== undefined)) {
    throw new Error(
      `the router app was built ${https ? 'with' : 'without'} TLS but the transport is ${transport.kind}`,
    );
  }

  const hosts = opts.networkHosts ?? [opts.host];
  const first = hosts[0];
  if (first === undefined) throw new Error('the router needs at least one network address');
  // The network servers: `app.server` on the first address, one more per further address.
  const extra = hosts.slice(1).map((host) => ({ host, server: app.networkServer() }));
  const tlsServers = [app.server, ...extra.map((e) => e.server)].filter(
    (s): s is HttpsServer => s instanceof HttpsServer,
  );
  // The loopback listener, once bound (its TLS server renews with the others).
  let portForward: Awaited<ReturnType<typeof listenPortForward>> | undefined;

  let grpcCredentials: ServerCredentials;
  let watcher: CertificateWatcher | undefined;
  if (transport.kind === 'tls' && https) {
    const reloadable = new ReloadableServerCredentials(transport.material);
    grpcCredentials = reloadable;
    const facts = checkTlsMaterial(transport.material);
    log.info({ certificate: facts }, 'TLS on the HTTP and gRPC ports');
    if (Date.parse(facts.validTo) < Date.now()) {
      log.warn({ certificate: facts }, 'the serving certificate has expired: clients will refuse it');
    }
    watcher = new CertificateWatcher({
      certFile: transport.certFile,
      keyFile: transport.keyFile,
      intervalMs: transport.reloadMs,
      initial: transport.material,
      onUpdate: (material, renewed) => {
        for (const s of tlsServers) s.setSecureContext(secureContextOptions(material));
        reloadable.update(material);
        log.info({ certificate: renewed }, 'serving a renewed certificate');
      },
      onInvalid: (err) =>
        log.warn({ err }, 'the certificate files changed but cannot be served; keeping the current pair'),
    });
  } else {
    grpcCredentials = ServerCredentials.createInsecure();
    if (transport.kind === 'plaintext' && transport.reason === 'insecure') {
      log.warn(
        { host: opts.host },
        'ROUTER_INSECURE_PLAINTEXT=true: BEARER TOKENS CROSS THE NETWORK IN CLEARTEXT on the HTTP and gRPC ports. Development only.',
      );
    } else {
      log.info({ host: opts.host }, 'plain HTTP on a loopback address only (no TLS configured)');
    }
  }

  try {
    await listen(app.server, opts.port, first);
    const httpPort = (app.server.address() as AddressInfo).port;
    for (const e of extra) await listen(e.server, httpPort, e.host);
    let grpcPort = opts.grpcPort;
    for (const host of hosts) {
      grpcPort = await new Promise<number>((resolve, reject) =>
        app.grpcServer.bindAsync(`${bracketed(host)}:${grpcPort}`, grpcCredentials, (err, port) =>
          err ? reject(err) : resolve(port),
        ),
      );
    }
    if (opts.portForward) {
      portForward = await listenPortForward(app, httpPort, https !== undefined, log);
      if (portForward.tlsServer) tlsServers.push(portForward.tlsServer);
    }
    let metricsServer: HttpServer | undefined;
    if (opts.metricsPort !== 0) {
      metricsServer = createServer(app.metricsListener);
      await listen(metricsServer, opts.metricsPort, opts.host);
    }
    return {
      httpPort,
      grpcPort,
      metricsPort: metricsServer ? (metricsServer.address() as AddressInfo).port : undefined,
      tls: transport.kind === 'tls',
      portForwardAddresses: portForward?.addresses ?? [],
      reloadCertificate: () => watcher?.check() ?? Promise.resolve('unchanged'),
      close: async () => {
        watcher?.close();
        for (const l of portForward?.listeners ?? []) {
          if (l.listening) await new Promise<void>((resolve) => l.close(() => resolve()));
        }
        if (metricsServer?.listening) {
          const server = metricsServer;
          await new Promise<void>((resolve) => server.close(() => resolve()));
        }
      },
    };
  } catch (error) {
    watcher?.close();
    throw error;
  }
}

/** The first byte of a TLS handshake record. */
const TLS_HANDSHAKE = 0x16;
/** As the HTTP servers' headersTimeout: a connection that says nothing is closed. */
const FIRST_BYTE_TIMEOUT_MS = 30_000;

/**
 * One loopback listener of the port-forward servers: each connection goes to the plain or (when
 * the router has a certificate) the TLS server by its first byte, so upstream's SDK (plain HTTP,
 * no token) and a client that tunnels TLS with its token (Sandbank's dev mode) both work. Either
 * way the connection is the port-forward listener's: what it is trusted with does not depend on
 * the protocol.
 */
function portForwardListener(plain: HttpServer, secure: HttpServer | undefined): NetServer {
  return createNetServer({ pauseOnConnect: true }, (socket) => {
    socket.once('error', () => socket.destroy());
    // Counted against ROUTER_MAX_CONNECTIONS once handed over; until its first byte, only this bounds it.
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      (secure !== undefined && first[0] === TLS_HANDSHAKE ? secure : plain).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
    socket.resume();
  });
}

/**
 * The port-forward listener on 127.0.0.1 and ::1 at the HTTP port. IPv4 loopback is required; a
 * pod without IPv6 has no ::1 (kubectl's tunnel then arrives on 127.0.0.1), which is logged.
 */
async function listenPortForward(
  app: RouterApp,
  port: number,
  tls: boolean,
  log: Logger,
): Promise<{ addresses: string[]; listeners: NetServer[]; tlsServer: HttpsServer | undefined }> {
  const plain = app.portForwardServer('plain');
  const secure = tls ? app.portForwardServer('tls') : undefined;
  const bound: string[] = [];
  const listeners: NetServer[] = [];
  for (const address of ['127.0.0.1', '::1']) {
    const server = portForwardListener(plain, secure);
    try {
      await listen(server, port, address);
      bound.push(address);
      listeners.push(server);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (address === '::1' && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) {
        log.info({ code }, 'no IPv6 loopback in this pod: the port-forward listener is on 127.0.0.1 only');
        continue;
      }
      throw error;
    }
  }
  log.info(
    { addresses: bound, port, tls },
    'port-forward listener on loopback (plain HTTP, and TLS when configured): requests without a token are the port-forward caller',
  );
  return {
    addresses: bound,
    listeners,
    tlsServer: secure instanceof HttpsServer ? secure : undefined,
  };
}

function listen(server: HttpServer | NetServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** gRPC addresses put IPv6 literals in brackets. */
function bracketed(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
