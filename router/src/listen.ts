/**
 * Binds a built router app (app.ts never listens) the way the configuration says: with TLS, the
 * HTTP server (already an https.Server, built with the same pair) and the gRPC passthrough speak
 * only TLS, and a watcher swaps a renewed certificate into both; without TLS, plain HTTP, which
 * config.ts allows only on loopback or with the explicit opt-out (logged loudly here). There is
 * never a second, plaintext listener beside a TLS one: a client cannot be talked down. The
 * metrics port, when separate, stays plain: it serves only metrics and takes no credentials.
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
  readonly host: string;
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
        https.setSecureContext(secureContextOptions(material));
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
    await listen(app.server, opts.port, opts.host);
    const grpcPort = await new Promise<number>((resolve, reject) =>
      app.grpcServer.bindAsync(`${bracketed(opts.host)}:${opts.grpcPort}`, grpcCredentials, (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
    let metricsServer: HttpServer | undefined;
    if (opts.metricsPort !== 0) {
      metricsServer = createServer(app.metricsListener);
      await listen(metricsServer, opts.metricsPort, opts.host);
    }
    return {
      httpPort: (app.server.address() as AddressInfo).port,
      grpcPort,
      metricsPort: metricsServer ? (metricsServer.address() as AddressInfo).port : undefined,
      tls: transport.kind === 'tls',
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
