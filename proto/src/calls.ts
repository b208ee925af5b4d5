/**
 * One grpc-js call per method kind, as promises and async iterables: unary → a promise, server
 * stream → an async iterable, client stream → an async iterable in and a promise out, bidi → a
 * duplex (writes with backpressure, responses by async iteration). Each takes metadata, an absolute
 * deadline and an AbortSignal, and any method definition with a path and (de)serializers: the
 * typed ones of grpc.ts, or byte-for-byte ones for a relay.
 *
 * Failures are grpc-js's `ServiceError` (status code, details, trailers) as the server sent them,
 * so a caller may map them or relay them unchanged. An abort cancels the call and fails it with
 * the signal's reason instead: the reason (a deadline, a client that went away) says why, where
 * "Cancelled on client" would not.
 */
import { Metadata } from '@grpc/grpc-js';
import type {
  CallOptions as GrpcCallOptions,
  Client,
  ClientDuplexStream,
  ServiceError,
  requestCallback,
} from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Readable, Writable } from 'node:stream';

/** What a call needs of a method definition: its path and how its messages become bytes. */
export interface CallMethod<I, O> {
  readonly path: string;
  readonly requestSerialize: (message: I) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => O;
}

export interface CallOptions {
  readonly metadata?: Metadata | undefined;
  /** Absolute (a Date, or ms since the epoch); past it the call fails DEADLINE_EXCEEDED. */
  readonly deadline?: Date | number | undefined;
  /** Cancels the call; it then fails with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * A bidi call. Requests are written as to a Node stream: `write` returns false when the send
 * buffer is full, and `drained()` says when to go on. Responses are read by iterating it once;
 * the iteration throws the call's failure, and leaving it early cancels the call.
 */
export interface BidiStream<I, O> extends AsyncIterable<O> {
  write(request: I): boolean;
  /** Resolves once the send buffer has room again, or the call is over. */
  drained(): Promise<void>;
  /** Half-closes: no more requests. */
  end(): void;
}

export async function unaryCall<I, O>(
  client: Client,
  method: CallMethod<I, O>,
  request: I,
  options: CallOptions = {},
): Promise<O> {
  options.signal?.throwIfAborted();
  const answer = settled<O>(options.signal);
  const call = client.makeUnaryRequest(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
    request,
    metadataOf(options),
    grpcOptions(options),
    answer.callback,
  );
  // Cancelled when the signal aborts, until it answers.
  new CallWatch(call, options.signal);
  return answer.response;
}

/** The responses, read as they are taken; throws (at once) only for an already aborted signal. */
export function serverStreamingCall<I, O>(
  client: Client,
  method: CallMethod<I, O>,
  request: I,
  options: CallOptions = {},
): AsyncIterable<O> {
  options.signal?.throwIfAborted();
  const call = client.makeServerStreamRequest(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
    request,
    metadataOf(options),
    grpcOptions(options),
  );
  return new ResponseStream<O, typeof call>(call, options.signal);
}

/**
 * Writes every request (waiting while the send buffer is full), half-closes, and resolves with the
 * response. Sending stops early when the call is answered first (the server refused a request).
 * When `requests` throws, the call is cancelled and fails with that error, unless the server had
 * already failed it for a reason of its own.
 */
export async function clientStreamingCall<I, O>(
  client: Client,
  method: CallMethod<I, O>,
  requests: AsyncIterable<I>,
  options: CallOptions = {},
): Promise<O> {
  const { signal } = options;
  signal?.throwIfAborted();
  const answer = settled<O>(signal);
  const call = client.makeClientStreamRequest(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
    metadataOf(options),
    grpcOptions(options),
    answer.callback,
  );
  const state = new CallWatch(call, signal);
  // Settled while requests are still being written; awaited (and so handled) only afterwards.
  const failure = answer.response.then(
    () => undefined,
    (error: unknown) => error,
  );
  try {
    for await (const request of requests) {
      if (state.ended) break;
      if (!call.write(request)) await drained(call, state);
    }
    call.end();
  } catch (error) {
    call.cancel();
    const refused = await failure;
    // The server's own reason for failing the call (it refused a request) says more than ours.
    if (isServiceError(refused) && refused.code !== status.CANCELLED) throw refused;
    throw signal?.aborted ? abortReason(signal) : error;
  }
  return answer.response;
}

/** A duplex; throws (at once) only for an already aborted signal. */
export function bidiStreamingCall<I, O>(
  client: Client,
  method: CallMethod<I, O>,
  options: CallOptions = {},
): BidiStream<I, O> {
  options.signal?.throwIfAborted();
  const call = client.makeBidiStreamRequest(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
    metadataOf(options),
    grpcOptions(options),
  );
  return new BidiCall<I, O>(call, options.signal);
}

/** A grpc-js failure: an Error with a numeric status code. */
export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === 'number';
}

function metadataOf(options: CallOptions): Metadata {
  return options.metadata ?? new Metadata();
}

function grpcOptions(options: CallOptions): GrpcCallOptions {
  return options.deadline === undefined ? {} : { deadline: options.deadline };
}

interface GrpcCall extends NodeJS.EventEmitter {
  cancel(): void;
}

/**
 * A running call, cancelled when `signal` aborts (until the call ends), with what it has said so
 * far. grpc-js tells each event once, to the listeners present then: an error emitted before anyone
 * iterates (or after they stopped) would otherwise go unseen, or crash the process as an unhandled
 * 'error' event.
 *
 * The call objects here are classes, not closures: a router holds one for each of thousands of
 * idle exec sessions, and methods on a prototype cost nothing per call.
 */
class CallWatch {
  /** The call has its status: nothing more will be sent or received. */
  ended = false;
  /** The call's error event, if there was one. */
  failure: ServiceError | undefined;

  constructor(call: GrpcCall, signal: AbortSignal | undefined) {
    const cancel = (): void => call.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    call.on('error', (error: ServiceError) => {
      this.failure ??= error;
    });
    call.once('status', () => {
      this.ended = true;
      signal?.removeEventListener('abort', cancel);
    });
  }
}

/**
 * The responses of a streaming call, in order, to be iterated once. The stream is paused while a
 * message waits to be taken, so a slow consumer holds the sender back through HTTP/2 flow control.
 * Iteration ends with the call's failure (after an abort, the signal's reason); `return()`, which
 * leaving a for-await early calls, cancels the call. (Node's own stream iterator would do, but keeps
 * a few KB more alive per call.)
 */
class ResponseStream<O, C extends Readable & GrpcCall> extends CallWatch implements AsyncIterableIterator<O> {
  private readonly messages: O[] = [];
  private done = false;
  private wake: (() => void) | undefined;

  constructor(
    protected readonly call: C,
    private readonly signal: AbortSignal | undefined,
  ) {
    super(call, signal);
    call.on('data', (message: O) => {
      this.messages.push(message);
      call.pause();
      this.wake?.();
    });
    call.once('end', () => {
      this.done = true;
      this.wake?.();
    });
  }

  async next(): Promise<IteratorResult<O>> {
    while (this.messages.length === 0 && !this.done)
      await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = undefined;
    const message = this.messages.shift();
    if (message !== undefined) {
      if (this.messages.length === 0) this.call.resume();
      return { value: message, done: false };
    }
    if (this.signal?.aborted) throw abortReason(this.signal);
    // The stream ends after its error event; one emitted before iteration began is here too.
    if (this.failure) throw this.failure;
    return { value: undefined, done: true };
  }

  async return(): Promise<IteratorResult<O>> {
    // A no-op when the call is over; otherwise the consumer stopped early and the call must end.
    this.call.cancel();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

class BidiCall<I, O> extends ResponseStream<O, ClientDuplexStream<I, O>> implements BidiStream<I, O> {
  write(request: I): boolean {
    return this.call.write(request);
  }

  drained(): Promise<void> {
    return drained(this.call, this);
  }

  end(): void {
    this.call.end();
  }
}

/** Resolves when `stream` can take more writes, or never will need to (closed, or the call ended). */
function drained(stream: Writable & GrpcCall, state: CallWatch): Promise<void> {
  if (state.ended) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('status', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('status', done);
  });
}

/** The callback of a call that answers once, and the promise it settles. */
function settled<O>(signal: AbortSignal | undefined): {
  readonly callback: requestCallback<O>;
  readonly response: Promise<O>;
} {
  let callback: requestCallback<O> = () => undefined;
  const response = new Promise<O>((resolve, reject) => {
    callback = (error, value) => {
      if (error) reject(signal?.aborted ? abortReason(signal) : error);
      // grpc-js turns a success without a message into INTERNAL "No message received" itself.
      else resolve(value as O);
    };
  });
  return { callback, response };
}

/** Why `signal` aborted: its reason, which callers set to an Error (else one that says it). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(`aborted: ${String(reason)}`);
}
