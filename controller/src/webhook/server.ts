/**
 * The conversion webhook's HTTPS server: `POST /convert` (a ConversionReview) and `GET /healthz`.
 * Built, never listened: main.ts and standalone.ts listen, tests use 127.0.0.1:0. The serving
 * certificate is swapped in place with `reloadTls` (connections already open keep theirs).
 *
 * Everything is bounded: one body at most 32 MiB (a LIST page of pod-spec-sized objects), all
 * bodies in flight together at most 128 MiB (beyond, 503: the API server retries its request),
 * headers and whole requests time out, and only JSON is parsed.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.js';
import type { WebhookTls } from './certs.js';
import type { ConversionOutcome, WebhookMetrics } from './metrics.js';
import { handleConversionReview, type Converter } from './review.js';

export const CONVERT_PATH = '/convert';
export const MAX_BODY_BYTES = 32 * 1024 * 1024;
export const MAX_IN_FLIGHT_BYTES = 128 * 1024 * 1024;

export interface WebhookServerOptions {
  readonly tls: WebhookTls;
  readonly convert: Converter;
  readonly log: Logger;
  readonly metrics?: WebhookMetrics;
  /** Overrides for tests. */
  readonly maxBodyBytes?: number;
  readonly maxInFlightBytes?: number;
}

export function buildWebhookServer(opts: WebhookServerOptions): Server {
  const log = opts.log.child({ component: 'conversion-webhook' });
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const maxInFlight = opts.maxInFlightBytes ?? MAX_IN_FLIGHT_BYTES;
  let inFlight = 0;

  const server = createServer(
    {
      cert: opts.tls.certPem,
      key: opts.tls.keyPem,
      minVersion: 'TLSv1.2',
      // The API server's webhook client waits at most 30 s; nothing should outlive that here.
      requestTimeout: 60_000,
      headersTimeout: 15_000,
      keepAliveTimeout: 30_000,
      maxHeaderSize: 16 * 1024,
    },
    (req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (path === '/healthz') {
        if (req.method !== 'GET' && req.method !== 'HEAD')
          return text(res, 405, 'method not allowed\n', 'GET, HEAD');
        return text(res, 200, 'ok\n');
      }
      if (path !== CONVERT_PATH) return text(res, 404, 'not found\n');
      if (req.method !== 'POST') return text(res, 405, 'method not allowed\n', 'POST');
      convertRequest(req, res);
    },
  );
  server.maxConnections = 1024;

  const convertRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    const done = (result: ConversionOutcome, from = 'unknown', to = 'unknown'): void => {
      opts.metrics?.conversion(from, to, result, Number(process.hrtime.bigint() - started) / 1e9);
    };
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      done('unsupported_media_type');
      req.resume();
      return text(res, 415, 'content-type must be application/json\n');
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) {
      done('too_large');
      return closeWith(res, 413, `body over ${maxBody} bytes\n`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const release = (): void => {
      inFlight -= size;
      size = 0;
    };
    req.on('data', (chunk: Buffer) => {
      if (finished) return;
      size += chunk.length;
      inFlight += chunk.length;
      if (size > maxBody || inFlight > maxInFlight) {
        finished = true;
        const tooLarge = size > maxBody;
        release();
        chunks.length = 0;
        done(tooLarge ? 'too_large' : 'busy');
        if (!tooLarge)
          log.warn(
            { inFlightLimit: maxInFlight },
            'conversion requests over the memory budget; refusing one',
          );
        closeWith(res, tooLarge ? 413 : 503, tooLarge ? `body over ${maxBody} bytes\n` : 'busy, retry\n');
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {
      if (finished) return;
      finished = true;
      release();
      done('aborted');
    });
    req.on('end', () => {
      if (finished) return;
      finished = true;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        release();
        done('invalid');
        return text(res, 400, 'body is not JSON\n');
      }
      chunks.length = 0;
      const outcome = handleConversionReview(body, opts.convert);
      release();
      for (const warning of outcome.warnings) log.warn({ uid: outcome.review.response.uid }, warning);
      if (outcome.result !== 'success') {
        const { result } = outcome.review.response;
        log.error(
          { uid: outcome.review.response.uid, message: 'message' in result ? result.message : undefined },
          'conversion failed',
        );
      }
      done(outcome.result, outcome.from, outcome.to);
      const json = JSON.stringify(outcome.review);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(json);
    });
  };

  return server;
}

/** Serves `tls` on new connections from now on. */
export function reloadTls(server: Server, tls: WebhookTls): void {
  server.setSecureContext({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' });
}

function text(res: ServerResponse, status: number, body: string, allow?: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    ...(allow === undefined ? {} : { allow }),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Answers and closes the connection: the rest of an oversized body is not read. */
function closeWith(res: ServerResponse, status: number, body: string): void {
  res.shouldKeepAlive = false;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(body, () => res.req.destroy());
}
