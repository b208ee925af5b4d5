/**
 * One HTTP exchange, or one streamed response read line by line, on a given agent. The
 * transport (transport.ts) decides what to send and how to retry; this module only moves bytes,
 * enforces the deadline and the abort signal, and classifies a reset kept-alive socket.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { KubeError, kubeErrorFromResponse } from './errors.js';

export interface Endpoint {
  readonly server: URL;
  readonly agent: http.Agent;
}

export interface HttpCall {
  readonly method: string;
  /** Path and query string. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly basicAuth: string | undefined;
  readonly body: Buffer | undefined;
}

export interface RawResponse {
  readonly status: number;
  readonly body: string;
}

/**
 * The request went out on a kept-alive socket that the server had just closed (ECONNRESET on a
 * reused socket): it never reached the server.
 */
export class StaleSocketError extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
  }
}

/** `?a=1&b=x` from the defined values; '' when none. */
export function queryString(
  query: Readonly<Record<string, string | number | boolean | undefined>> | undefined,
): string {
  if (query === undefined) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

/** Starts a request; `onResponse` gets the response, request errors go to `fail`. */
function open(
  endpoint: Endpoint,
  call: HttpCall,
  fail: (err: Error) => void,
  onResponse: (res: http.IncomingMessage) => void,
): http.ClientRequest {
  const lib = endpoint.server.protocol === 'https:' ? https : http;
  const req = lib.request({
    protocol: endpoint.server.protocol,
    hostname: endpoint.server.hostname,
    port: endpoint.server.port,
    method: call.method,
    path: call.path,
    headers: call.headers,
    agent: endpoint.agent,
    ...(call.basicAuth !== undefined ? { auth: call.basicAuth } : {}),
  });
  req.on('response', onResponse);
  req.on('error', (err: Error & { code?: string }) => {
    fail(req.reusedSocket && err.code === 'ECONNRESET' ? new StaleSocketError(err) : err);
  });
  return req;
}

/** Sends `call` and reads the whole response; rejects on timeout, abort or socket errors. */
export function exchange(
  endpoint: Endpoint,
  call: HttpCall,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('request aborted', 'AbortError'));
      return;
    }
    let settled = false;
    const finish = (err: Error | undefined, res?: RawResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else if (res) resolve(res);
    };
    const req = open(endpoint, call, finish, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', (err) => finish(err));
      res.on('aborted', () => finish(new KubeError('Unavailable', 0, 'response aborted')));
    });
    const timer = setTimeout(() => {
      const err = new DOMException(`no response within ${timeoutMs} ms`, 'TimeoutError');
      finish(err);
      req.destroy(err);
    }, timeoutMs);
    const onAbort = (): void => {
      const err = new DOMException('request aborted', 'AbortError');
      finish(err);
      req.destroy(err);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end(call.body);
  });
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/**
 * Sends `call` and hands each line of a 200 response to `onLine`, in order. Resolves when the
 * server ends the response or `signal` aborts; rejects on a non-200 status (as a KubeError), a
 * broken stream, the deadline, or when `onLine` throws.
 */
export function streamLines(
  endpoint: Endpoint,
  call: HttpCall,
  deadlineMs: number,
  signal: AbortSignal,
  onLine: (line: string) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      if (err === undefined || signal.aborted) resolve();
      else reject(err);
    };
    const req = open(endpoint, call, finish, (res) => {
      const status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      if (status !== 200) {
        let body = '';
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => finish(kubeErrorFromResponse(status, body, `${call.method} ${call.path}`)));
        res.on('error', (err) => finish(err));
        return;
      }
      let pending = '';
      const deliver = (line: string): void => {
        if (line.trim() !== '') onLine(line);
      };
      res.on('data', (chunk: string) => {
        if (settled) return;
        const text = pending + chunk;
        let start = 0;
        try {
          // One slice per line, the remainder copied once per chunk: linear in the bytes read.
          for (let nl = text.indexOf('\n'); nl >= 0 && !settled; nl = text.indexOf('\n', start)) {
            deliver(text.slice(start, nl));
            start = nl + 1;
          }
        } catch (err) {
          finish(asError(err));
        }
        pending = text.slice(start);
      });
      res.on('end', () => {
        try {
          deliver(pending);
          finish();
        } catch (err) {
          finish(asError(err));
        }
      });
      res.on('error', (err) => finish(err));
      res.on('aborted', () => finish(new KubeError('Unavailable', 0, 'stream aborted')));
      res.on('close', () =>
        finish(res.complete ? undefined : new KubeError('Unavailable', 0, 'stream closed')),
      );
    });
    const deadline = setTimeout(
      () => finish(new DOMException(`stream exceeded its ${deadlineMs} ms deadline`, 'TimeoutError')),
      deadlineMs,
    );
    const onAbort = (): void => finish();
    signal.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}
