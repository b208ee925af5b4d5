/**
 * gRPC passthrough of `sandbank.agent.v1` (ExecService and FileService): a caller speaks the
 * agent's own API to the router, naming the sandbox in metadata (`x-sandbox-id`, optional
 * `x-sandbox-namespace`, default `default`), and the router relays the calls' bytes to that
 * sandbox's agent without decoding them. Auth is the same as on HTTP (`authorization` metadata);
 * the caller's `authorization` and `x-sandbox-*` entries never reach the agent.
 */
import type { Readable, Writable } from 'node:stream';
import { Metadata, Server } from '@grpc/grpc-js';
import type {
  MethodDefinition,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  ServiceError,
  UntypedHandleCall,
  sendUnaryData,
} from '@grpc/grpc-js';
import { ExecServiceDefinition, FileServiceDefinition } from '@sandbank/proto';
import type { AgentClient } from '@sandbank/proto';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import { LegacyHeaders } from '../http/validate.js';
import { extractContext, tracer } from '../observability/tracing.js';
import type { SandboxRef } from '../resolve/index.js';
import { fromAgentError, isGrpcError } from '../agent/status.js';

const identity = (b: Buffer): Buffer => b;

/** The metric label of an agent call's outcome. */
const codeOf = (error: ServiceError | null): string => (error ? fromAgentError(error).code : 'ok');

/** Pipes `from` into `to` chunk by chunk, pausing the source while the sink's buffer is full. */
function forward(from: Readable, to: Writable, onEnd: () => void): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', onEnd);
}

/** The agent's response stream back to the caller; its status settles the call's metrics. */
function relayResponses(up: Readable, call: Writable, o: Opened): void {
  forward(up, call, () => {
    o.done('ok');
    call.end();
  });
  up.on('error', (err: ServiceError) => {
    o.done(codeOf(err));
    call.emit('error', err);
  });
}

type RawMethod = MethodDefinition<Buffer, Buffer>;

function rawService(def: Record<string, { path: string; requestStream: boolean; responseStream: boolean }>) {
  const out: Record<string, RawMethod> = {};
  for (const [name, m] of Object.entries(def)) {
    out[name] = {
      path: m.path,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
  }
  return out as ServiceDefinition;
}

function grpcError(error: RouterError): Partial<ServiceError> {
  const trailer = new Metadata();
  trailer.set('sandbank-error-code', error.code);
  return { code: error.grpcStatus, details: `${error.code}: ${error.message}`, metadata: trailer };
}

function targetOf(md: Metadata): SandboxRef {
  const get = (k: string): string | undefined => {
    const v = md.get(k)[0];
    return typeof v === 'string' ? v : undefined;
  };
  if (get('x-sandbox-id') === undefined) {
    throw new RouterError('invalid_argument', 'x-sandbox-id: metadata is required (the sandbox claim name)');
  }
  const parsed = LegacyHeaders.safeParse({
    'x-sandbox-id': get('x-sandbox-id'),
    'x-sandbox-namespace': get('x-sandbox-namespace'),
  });
  if (!parsed.success) {
    throw new RouterError(
      'invalid_argument',
      `${String(parsed.error.issues[0]?.path[0])}: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return { name: parsed.data['x-sandbox-id'], namespace: parsed.data['x-sandbox-namespace'] };
}

/** The caller's metadata minus credentials, routing keys and transport-reserved entries. */
function forwarded(md: Metadata, extra: Metadata): Metadata {
  const out = extra.clone();
  for (const [key, values] of Object.entries(md.toJSON())) {
    if (
      key === 'authorization' ||
      key.startsWith('x-sandbox-') ||
      key.startsWith('grpc-') ||
      key.startsWith(':')
    )
      continue;
    if (
      key === 'traceparent' ||
      key === 'tracestate' ||
      key === 'user-agent' ||
      key === 'te' ||
      key === 'content-type'
    )
      continue;
    for (const v of values) out.add(key, v);
  }
  return out;
}

type AnyCall =
  | ServerUnaryCall<Buffer, Buffer>
  | ServerReadableStream<Buffer, Buffer>
  | ServerWritableStream<Buffer, Buffer>
  | ServerDuplexStream<Buffer, Buffer>;

interface Opened {
  readonly client: AgentClient;
  readonly metadata: Metadata;
  done(code: string): void;
}

export function buildGrpcPassthrough(ctx: RouterContext): Server {
  const server = new Server({ 'grpc.max_receive_message_length': ctx.limits.wsMaxMessageBytes });

  /** Auth, limit, resolve and dial: what every relayed call does first. */
  const open = async (call: AnyCall, path: string): Promise<Opened> => {
    const started = process.hrtime.bigint();
    const controller = new AbortController();
    const untrack = ctx.tracker.add(controller);
    let release: (() => void) | undefined;
    let leaseRelease: (() => void) | undefined;
    const finish = (code: string): void => {
      leaseRelease?.();
      release?.();
      untrack();
      ctx.metrics.requests.inc({ surface: 'grpc', route: path, code });
      ctx.metrics.duration.observe(
        { surface: 'grpc', route: path },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
      ctx.metrics.inflight.dec({ surface: 'grpc' });
    };
    ctx.metrics.inflight.inc({ surface: 'grpc' });
    try {
      if (ctx.tracker.draining) throw new RouterError('shutting_down', 'the router is shutting down; retry');
      const md = call.metadata;
      const target = targetOf(md);
      const auth = md.get('authorization')[0];
      const principal = await ctx.auth.authorize(
        { authorization: typeof auth === 'string' ? auth : undefined, remoteAddress: call.getPeer() },
        target,
      );
      release = ctx.limiter.acquire(principal.callerKey).release;
      const { lease } = await ctx.gateway.connect(target, controller.signal);
      leaseRelease = lease.release;
      const headers: Record<string, string | undefined> = {};
      for (const k of ['traceparent', 'tracestate']) {
        const v = md.get(k)[0];
        if (typeof v === 'string') headers[k] = v;
      }
      const trace = extractContext(headers);
      const span = tracer.startSpan(`grpc ${path}`, {}, trace);
      span.end();
      (call as NodeJS.EventEmitter).on('cancelled', () =>
        controller.abort(new RouterError('canceled', 'the caller cancelled')),
      );
      return {
        client: lease.client,
        metadata: forwarded(md, ctx.gateway.metadata(trace, span)),
        done: finish,
      };
    } catch (error) {
      finish(RouterError.from(error).code);
      throw error;
    }
  };

  const fail = (error: unknown): Partial<ServiceError> =>
    grpcError(isGrpcError(error) ? fromAgentError(error) : RouterError.from(error));
  const deadlineOf = (call: AnyCall): { deadline: number | Date } => {
    const d = call.getDeadline();
    return { deadline: d === Infinity ? Date.now() + ctx.limits.requestTimeoutMs : d };
  };

  const handlers = (
    def: Record<string, { path: string; requestStream: boolean; responseStream: boolean }>,
  ) => {
    const out: Record<string, UntypedHandleCall> = {};
    for (const [name, m] of Object.entries(def)) {
      const path = m.path;
      if (!m.requestStream && !m.responseStream) {
        out[name] = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
          open(call, path).then(
            (o) => {
              const up = o.client.makeUnaryRequest(
                path,
                identity,
                identity,
                call.request,
                o.metadata,
                deadlineOf(call),
                (err, res) => {
                  o.done(codeOf(err));
                  if (err) callback(err);
                  else callback(null, res);
                },
              );
              call.on('cancelled', () => up.cancel());
            },
            (error: unknown) => callback(fail(error)),
          );
        };
      } else if (!m.requestStream && m.responseStream) {
        out[name] = (call: ServerWritableStream<Buffer, Buffer>) => {
          open(call, path).then(
            (o) => {
              const up = o.client.makeServerStreamRequest(
                path,
                identity,
                identity,
                call.request,
                o.metadata,
                deadlineOf(call),
              );
              call.on('cancelled', () => up.cancel());
              relayResponses(up, call, o);
            },
            (error: unknown) => call.emit('error', fail(error)),
          );
        };
      } else if (m.requestStream && !m.responseStream) {
        out[name] = (call: ServerReadableStream<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
          call.pause();
          open(call, path).then(
            (o) => {
              const up = o.client.makeClientStreamRequest(
                path,
                identity,
                identity,
                o.metadata,
                deadlineOf(call),
                (err, res) => {
                  o.done(codeOf(err));
                  if (err) callback(err);
                  else callback(null, res);
                },
              );
              call.on('cancelled', () => up.cancel());
              forward(call, up, () => up.end());
              call.resume();
            },
            (error: unknown) => callback(fail(error)),
          );
        };
      } else {
        out[name] = (call: ServerDuplexStream<Buffer, Buffer>) => {
          call.pause();
          open(call, path).then(
            (o) => {
              const up = o.client.makeBidiStreamRequest(
                path,
                identity,
                identity,
                o.metadata,
                deadlineOf(call),
              );
              call.on('cancelled', () => up.cancel());
              forward(call, up, () => up.end());
              relayResponses(up, call, o);
              call.resume();
            },
            (error: unknown) => call.emit('error', fail(error)),
          );
        };
      }
    }
    return out;
  };

  server.addService(rawService(ExecServiceDefinition), handlers(ExecServiceDefinition));
  server.addService(rawService(FileServiceDefinition), handlers(FileServiceDefinition));
  return server;
}
