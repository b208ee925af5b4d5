/**
 * Plain HTTP to a pod's port, streaming both ways, as upstream's router does: for runtimes that
 * serve the legacy REST API themselves (no Sandbank agent) and for ports other than the agent's.
 * Hop-by-hop headers, `Host`, `Authorization` and the router's own headers never reach the pod.
 */
import { request } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Request, Response } from 'express';
import { RouterError } from '../errors.js';
import type { Endpoint } from '../resolve/index.js';
import type { Scope } from './pipeline.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const STRIPPED = new Set(['host', 'authorization', 'cookie']);

/** The headers that may travel between client and pod, in either direction. */
export function forwardableHeaders(headers: IncomingHttpHeaders, request: boolean): OutgoingHttpHeaders {
  const listed = new Set(
    (headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== ''),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    if (request && (STRIPPED.has(name) || name.startsWith('x-sandbox-'))) continue;
    out[name] = value;
  }
  return out;
}

/**
 * A redirect from the pod names the pod's own address (`http://10.244.0.7:8888/list/`): the
 * client cannot reach it, and it tells the client the cluster's internal addresses. Such a
 * Location becomes its path (resolved against the router by the client); others pass unchanged.
 */
export function relativeLocation(location: string, podIp: string, podPort: number): string {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location; // already relative
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return host === podIp && port === podPort ? `${url.pathname}${url.search}${url.hash}` : location;
}

export interface ProxyOptions {
  readonly port: number;
  readonly maxBodyBytes: number;
  /** Connect timeout, as upstream's min(timeout, 5 s). */
  readonly connectTimeoutMs: number;
}

export async function proxyHttp(
  req: Request,
  res: Response,
  scope: Scope,
  endpoint: Endpoint,
  opts: ProxyOptions,
): Promise<void> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > opts.maxBodyBytes) {
    throw new RouterError('payload_too_large', `request body over ${opts.maxBodyBytes} bytes`);
  }
  const headers = forwardableHeaders(req.headers, true);
  const forwardedFor = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
  headers['x-forwarded-for'] = forwardedFor;
  headers['x-forwarded-proto'] = 'http';
  if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;

  await new Promise<void>((resolve, reject) => {
    let connected = false;
    let responded = false;
    const upstream = request({
      host: endpoint.ip,
      port: opts.port,
      method: req.method,
      path: req.originalUrl,
      headers,
      signal: scope.signal,
    });
    const connectTimer = setTimeout(() => {
      if (!connected) upstream.destroy(new Error('connect timeout'));
    }, opts.connectTimeoutMs);
    upstream.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    upstream.on('error', (error) => {
      clearTimeout(connectTimer);
      if (responded) {
        res.destroy();
        resolve();
        return;
      }
      if (scope.signal.aborted) {
        reject(scope.signal.reason instanceof Error ? scope.signal.reason : error);
        return;
      }
      reject(
        connected
          ? new RouterError(
              'upstream_failed',
              `the backend sandbox ${endpoint.sandbox} closed the connection`,
              {
                cause: error,
              },
            )
          : new RouterError(
              'upstream_unavailable',
              `Could not connect to the backend sandbox: ${endpoint.sandbox}`,
              {
                cause: error,
              },
            ),
      );
    });
    upstream.on('response', (up) => {
      clearTimeout(connectTimer);
      responded = true;
      const headers = forwardableHeaders(up.headers, false);
      if (typeof headers.location === 'string') {
        headers.location = relativeLocation(headers.location, endpoint.ip, opts.port);
      }
      res.writeHead(up.statusCode ?? 502, headers);
      up.pipe(res);
      up.on('end', () => resolve());
      up.on('error', () => {
        res.destroy();
        resolve();
      });
    });
    let sent = 0;
    req.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > opts.maxBodyBytes) {
        upstream.destroy();
        req.unpipe(upstream);
        reject(new RouterError('payload_too_large', `request body over ${opts.maxBodyBytes} bytes`));
      }
    });
    req.pipe(upstream);
  });
}
