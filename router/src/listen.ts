/**
 * Binds a built router app (app.ts never listens) the way the configuration says: with TLS, the
 * HTTP server (already an https.Server, built with the same pair) and the gRPC passthrough speak
 * only TLS, and a watcher swaps a renewed certificate into both; without TLS, plain HTTP, which
 * config.ts allows only on loopback or with the explicit opt-out (logged loudly here). The metrics
 * port, when separate, stays plain: it serves only metrics and takes no credentials.
 *
 * No network address ever gets a plaintext listener beside a TLS one: a client cannot be talked
 * down. The one exception is token-less tunnel mode (`portForward`, auth/port-forward.ts): a
 * plain-HTTP listener on 127.0.0.1 and ::1, on the HTTP port itself, because that is where
 * `kubectl port-forward` arrives (the CRI dials localhost:<targetPort> inside the pod's network
 * namespace); nothing crosses a network there, the API server's tunnel did. The network
 * listener must then be bound to the pod's own addresses (config.ts refuses a wildcard, which
 * would take those loopback connections itself).
 */
import { createServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
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
    const portForwardAddresses = opts.portForward ? await listenPortForward(app, httpPort, log) : [];
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
      portForwardAddresses,
      reloadCertificate: () => watcher?.check() ?? Promise.resolve('unchanged'),
      close: async () => {
        watcher?.close();
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

/**
 * The port-forward listener on 127.0.0.1 and ::1 at the HTTP port. IPv4 loopback is required; a
 * pod without IPv6 has no ::1 (kubectl's tunnel then arrives on 127.0.0.1), which is logged.
 */
async function listenPortForward(app: RouterApp, port: number, log: Logger): Promise<string[]> {
  const bound: string[] = [];
  for (const address of ['127.0.0.1', '::1']) {
    const server = app.portForwardServer();
    try {
      await listen(server, port, address);
      bound.push(address);
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
    { addresses: bound, port },
    'port-forward listener: plain HTTP on loopback; requests without a token are the port-forward caller',
  );
  return bound;
}

function listen(server: HttpServer, port: number, host: string): Promise<void> {
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
