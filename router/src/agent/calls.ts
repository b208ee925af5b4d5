/**
 * Promise and stream helpers around the agent client: every call gets a deadline, the request's
 * AbortSignal cancels it, and its gRPC error becomes a RouterError.
 */
import type {
  CallOptions,
  ClientUnaryCall,
  ClientWritableStream,
  Metadata,
  ServiceError,
} from '@grpc/grpc-js';
import type { Readable } from 'node:stream';
import { RouterError } from '../errors.js';
import { fromAgentError } from './status.js';

export interface CallContext {
  readonly metadata: Metadata;
  /** Absolute deadline (ms since the epoch). */
  readonly deadline: number;
  readonly signal?: AbortSignal | undefined;
}

export function callOptions(ctx: CallContext): CallOptions {
  return { deadline: ctx.deadline };
}

/** Runs a unary call; `start` receives the callback to hand to the client method. */
export function unary<Res>(
  ctx: CallContext,
  start: (callback: (error: ServiceError | null, value?: Res) => void) => ClientUnaryCall,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const onAbort = (): void => call.cancel();
    const call = start((error, value) => {
      ctx.signal?.removeEventListener('abort', onAbort);
      if (error) reject(fromAgentError(error));
      else if (value === undefined)
        reject(new RouterError('upstream_failed', 'the sandbox agent sent no reply'));
      else resolve(value);
    });
    if (ctx.signal?.aborted) call.cancel();
    else ctx.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Streams `source` (raw chunks) into a client-streaming call as messages made by `frame`, with
 * backpressure both ways, then half-closes and waits for the reply. `started` receives the call's
 * response promise wiring before data flows.
 */
export async function pumpInto<Req, Res>(
  ctx: CallContext,
  start: (callback: (error: ServiceError | null, value?: Res) => void) => ClientWritableStream<Req>,
  first: Req,
  source: AsyncIterable<Buffer> | Readable,
  frame: (chunk: Buffer) => Req,
): Promise<Res> {
  let call: ClientWritableStream<Req> | undefined;
  const reply = new Promise<Res>((resolve, reject) => {
    call = start((error, value) => {
      if (error) reject(fromAgentError(error));
      else if (value === undefined)
        reject(new RouterError('upstream_failed', 'the sandbox agent sent no reply'));
      else resolve(value);
    });
  });
  const active = call;
  if (!active) throw new RouterError('internal', 'the agent call did not start');
  const onAbort = (): void => active.cancel();
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  // The reply may settle early (the agent refused the header): stop pumping then.
  let settled = false;
  reply.then(
    () => (settled = true),
    () => (settled = true),
  );
  try {
    if (!active.write(first)) await drained(active);
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (settled) break;
      if (!active.write(frame(chunk))) await drained(active);
    }
    if (!settled) active.end();
    return await reply;
  } catch (error) {
    active.cancel();
    // The reply's error (the agent's reason) beats the pump's (usually "cancelled").
    const agentError = await reply.then(
      () => undefined,
      (e: unknown) => e,
    );
    throw agentError instanceof RouterError && agentError.code !== 'canceled' ? agentError : error;
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
  }
}

function drained<T>(stream: ClientWritableStream<T>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      stream.off('drain', onDrain);
      stream.off('error', onError);
      stream.off('close', onDrain);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onError = (e: unknown): void => {
      cleanup();
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    stream.once('drain', onDrain);
    stream.once('error', onError);
    stream.once('close', onDrain);
  });
}
