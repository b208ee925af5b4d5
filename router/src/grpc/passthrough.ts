/**
 * gRPC passthrough of `sandbank.agent.v1` (ExecService, FileService, ProcessService): a caller speaks the
 * agent's own API to the router, naming the sandbox in metadata (`x-sandbox-id`, optional
 * `x-sandbox-namespace`, default `default`), and the router relays the calls' bytes to that
 * sandbox's agent without decoding them. Auth is the same as on HTTP (`authorization` metadata);
 * the caller's `authorization` and `x-sandbox-*` entries never reach the agent. The agent's own
 * failures reach the caller as the agent sent them; the router's as its code table says.
 *
 * A call's deadline is the caller's, capped: Exec and AttachProcess by the session lifetime, every other
 * call by the request timeout; without one, the request timeout. The caller is the authenticated
 * principal, never the connection: more channels buy no more concurrent calls.
 */
import { Metadata } from '@grpc/grpc-js';
import { formatZodError } from '@sandbank/api';
import type {
  Client,
  MethodDefinition,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  Server,
  ServiceDefinition,
  ServiceError,
  UntypedHandleCall,
  UntypedServiceImplementation,
  sendUnaryData,
} from '@grpc/grpc-js';
import {
  ExecServiceDefinition,
  FileServiceDefinition,
  ProcessServiceDefinition,
  bidiStreamingCall,
  clientStreamingCall,
  serverStreamingCall,
  unaryCall,
} from '@sandbank/proto';
import type { AttachProcessResponse, CallMethod, CallOptions } from '@sandbank/proto';
import { Admission } from '../admission/admission.js';
import { callBudget } from '../admission/budget.js';
import { peerAddress } from '../admission/client-address.js';
import { CappedGrpcServer } from '../connections.js';
import type { ConnectionCap } from '../connections.js';
import { agentCallError } from '../agent/status.js';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import { drainOrClose } from '../http/drain.js';
import { relayUnary } from './buffered-relay.js';
import { AttachChecker } from '../agent/attach-stream.js';
import { ProcessId } from '../agent/process-info.js';
import { LegacyHeaders } from '../http/validate.js';
import type { SandboxRef } from '../resolve/index.js';

const identity = (b: Buffer): Buffer => b;

/**
 * How long after the router's deadline the agent's own falls: the router ends the call at its
 * deadline with its own error (deadline_exceeded); the agent's deadline is only the backstop.
 */
const AGENT_DEADLINE_SLACK_MS = 1_000;

/** An agent rpc as @sandbank/proto defines it: all a relay needs is its path and kind. */
interface AgentMethod {
  readonly path: string;
  readonly kind: 'unary' | 'server_streaming' | 'client_streaming' | 'bidi_streaming';
  readonly requestDeserialize: (bytes: Buffer) => unknown;
}

/** One agent rpc relayed as bytes: identity (de)serializers. */
type RawMethod = Omit<AgentMethod, 'requestDeserialize'> &
  CallMethod<Buffer, Buffer> & {
    /** Checks a single request's fields before the agent is dialled (throws invalid_argument). */
    readonly check: (request: Buffer | undefined) => void;
  };

const PROCESS_SERVICE = '/sandbank.agent.v1.ProcessService/';

/**
 * Reads a ProcessService request as GetProcessRequest: every request that names a process has it
 * as `string id = 1` (hostile-processes.test.ts calls each such method), so this decodes the id
 * and only skips over the rest (stdin data, a terminal size) rather than building the message.
 */
const readProcessId = (request: Buffer): string =>
  ProcessServiceDefinition.getProcess.requestDeserialize(request).id;

/** Whether the method's request names a process: its empty message has an `id` field. */
function namesProcess(def: AgentMethod): boolean {
  if (!def.path.startsWith(PROCESS_SERVICE)) return false;
  const empty = def.requestDeserialize(Buffer.alloc(0));
  return typeof empty === 'object' && empty !== null && 'id' in empty;
}

/**
 * The process id of a ProcessService request, held to the same form as on HTTP
 * (agent/process-info.ts): the relay is otherwise byte for byte, but an id is the one field the
 * router promises to check before any agent sees it.
 */
function processIdCheck(def: AgentMethod): (request: Buffer | undefined) => void {
  if (!namesProcess(def)) return () => undefined;
  return (request) => {
    if (request === undefined) return;
    let id: string;
    try {
      id = readProcessId(request);
    } catch {
      throw new RouterError('invalid_argument', 'request: not a valid protobuf message');
    }
    const parsed = ProcessId.safeParse(id);
    if (!parsed.success) throw new RouterError('invalid_argument', `id: ${formatZodError(parsed.error)}`);
  };
}

function rawMethod(def: AgentMethod): RawMethod {
  return {
    path: def.path,
    kind: def.kind,
    requestSerialize: identity,
    responseDeserialize: identity,
    check: processIdCheck(def),
  };
}

/** The grpc-js definition the router serves for a service: the agent's, with bytes in and out. */
function rawService(def: Record<string, AgentMethod>): ServiceDefinition {
  const out: Record<string, MethodDefinition<Buffer, Buffer>> = {};
  for (const [name, m] of Object.entries(def)) {
    out[name] = {
      path: m.path,
      requestStream: m.kind === 'client_streaming' || m.kind === 'bidi_streaming',
      responseStream: m.kind === 'server_streaming' || m.kind === 'bidi_streaming',
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
  }
  return out;
}

/** The router's own failure as the status the caller gets: the code table's, plus a trailer. */
function grpcError(error: RouterError): ServiceError {
  const metadata = new Metadata();
  metadata.set('sandbank-error-code', error.code);
  const details = `${error.code}: ${error.message}`;
  return Object.assign(new Error(details), { code: error.grpcStatus, details, metadata });
}

function first(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

function targetOf(md: Metadata): SandboxRef {
  if (first(md, 'x-sandbox-id') === undefined) {
    throw new RouterError('invalid_argument', 'x-sandbox-id: metadata is required (the sandbox claim name)');
  }
  const parsed = LegacyHeaders.safeParse({
    'x-sandbox-id': first(md, 'x-sandbox-id'),
    'x-sandbox-namespace': first(md, 'x-sandbox-namespace'),
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

/** What the admission needs of a server call, whatever its kind. */
type ServerCall = Pick<ServerUnaryCall<Buffer, Buffer>, 'metadata' | 'getPeer' | 'getDeadline'> &
  NodeJS.EventEmitter;

/**
 * The caller's requests, in order. Read without destroying the call when they end (what iterating
 * a stream does by default): the call's other half still has the responses to send.
 */
function requestsOf(
  call: ServerReadableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>,
): AsyncIterable<Buffer> {
  return call.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
}

const ATTACH = ProcessServiceDefinition.attachProcess;

/**
 * An AttachProcess stream relayed as the agent's bytes, each frame checked first against the
 * caller's request (offsets, sizes, order: agent/attach-stream.ts): the offsets are what the caller
 * resumes from, so a hostile agent may not send it ones that go back or start elsewhere than it
 * asked. A broken frame ends the call, UNKNOWN (upstream_failed), after the last valid one.
 */
async function* checkedRawAttach(request: Buffer, responses: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const checker = new AttachChecker(ATTACH.requestDeserialize(request));
  for await (const raw of responses) {
    let frame: AttachProcessResponse;
    try {
      frame = ATTACH.responseDeserialize(raw);
    } catch {
      throw new RouterError('upstream_failed', 'the sandbox agent sent an attach frame that is not protobuf');
    }
    checker.check(frame);
    yield raw;
  }
  checker.finish();
}

/** Writes every response to the caller as the caller reads them, then ends the call. */
async function sendAll(
  responses: AsyncIterable<Buffer>,
  call: ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>,
): Promise<void> {
  for await (const response of responses) if (!call.write(response)) await drainOrClose(call);
  call.end();
}

/** How a relayed call answers its caller: a failure status, or (unary) the response. */
type Answer<T> = (status: ServiceError | null, value?: T) => void;

/** A streaming call answers a failure with an error event (its success ends the stream). */
function streamAnswer(
  call: ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>,
): Answer<void> {
  return (status) => {
    if (status && !call.cancelled) call.emit('error', status);
  };
}

/** The passthrough server; its connections count against `cap` (see connections.ts). */
export function buildGrpcPassthrough(ctx: RouterContext, cap: ConnectionCap): Server {
  const server = new CappedGrpcServer(
    cap,
    { 'grpc.max_receive_message_length': ctx.limits.wsMaxMessageBytes },
    (err) => ctx.log.error({ err }, 'gRPC listener failed'),
  );

  /**
   * Admits one call, relays it to the sandbox's agent with `relay`, and answers the caller: the
   * agent's failures as the agent sent them, the router's own by its code table.
   */
  const serve = async <T>(
    call: ServerCall,
    request: Buffer | undefined,
    method: RawMethod,
    relay: (agent: Client, options: CallOptions) => Promise<T>,
    answer: Answer<T>,
  ): Promise<void> => {
    const md = call.metadata;
    const { path } = method;
    await using admission = new Admission(ctx, {
      surface: 'grpc',
      route: path,
      spanName: `grpc ${path}`,
      carrier: { traceparent: first(md, 'traceparent'), tracestate: first(md, 'tracestate') },
      // The peer is `ip:port`; the port is the caller's to choose, one per connection.
      remoteAddress: peerAddress(call.getPeer()),
    });
    call.on('cancelled', () => admission.abort(new RouterError('canceled', 'the caller cancelled')));
    // A session (Exec) and a followed process attach last as a session may; the reader of an
    // attach cut there resumes from its offset.
    const session = method.kind === 'bidi_streaming' || method.path.endsWith('/AttachProcess');
    const capMs = session ? ctx.limits.wsMaxLifetimeMs : ctx.limits.requestTimeoutMs;
    let signal: AbortSignal | undefined;
    let value: T;
    try {
      const scope = await admission.admit({
        target: () => targetOf(md),
        budget: () => callBudget(call.getDeadline(), ctx.limits.requestTimeoutMs, capMs),
        authorization: first(md, 'authorization'),
      });
      signal = scope.signal;
      method.check(request);
      const { client, options } = await scope.connect();
      value = await relay(client, {
        ...options,
        deadline: options.deadline + AGENT_DEADLINE_SLACK_MS,
        metadata: forwarded(md, options.metadata),
      });
    } catch (thrown) {
      const error = admission.fail(thrown);
      // When the router ended the call (its deadline, shutdown), the agent's answer is only the
      // echo of that (CANCELLED): the caller gets the router's reason.
      const reason: unknown = signal?.aborted ? signal.reason : undefined;
      const routerEnded = reason instanceof RouterError && reason.code !== 'canceled';
      // The agent's own status passes as it sent it, when it is one a gRPC server can send.
      const agentStatus = agentCallError(thrown);
      answer(agentStatus && !routerEnded ? agentStatus : grpcError(error));
      return;
    }
    answer(null, value);
  };

  const handler = (method: RawMethod): UntypedHandleCall => {
    const relayed = <T>(
      call: ServerCall,
      relay: (agent: Client, options: CallOptions) => Promise<T>,
      answer: Answer<T>,
    ): void => {
      // A single request (unary, server streaming) is checked before the dial.
      const request = 'request' in call && Buffer.isBuffer(call.request) ? call.request : undefined;
      // serve() answers every failure itself; this only guards against a bug in it.
      serve(call, request, method, relay, answer).catch((err: unknown) => {
        ctx.log.error({ err, route: method.path }, 'gRPC relay failed');
      });
    };
    switch (method.kind) {
      case 'unary':
        return (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
          relayed(
            call,
            (agent, options) =>
              relayUnary(ctx.outputBudget, method.path, call.request, () =>
                unaryCall(agent, method, call.request, options),
              ),
            callback,
          );
      case 'server_streaming':
        return (call: ServerWritableStream<Buffer, Buffer>) =>
          relayed(
            call,
            (agent, options) => {
              const responses = serverStreamingCall(agent, method, call.request, options);
              return sendAll(
                method.path === ATTACH.path ? checkedRawAttach(call.request, responses) : responses,
                call,
              );
            },
            streamAnswer(call),
          );
      case 'client_streaming':
        return (call: ServerReadableStream<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
          relayed(
            call,
            (agent, options) => clientStreamingCall(agent, method, requestsOf(call), options),
            callback,
          );
      case 'bidi_streaming':
        return (call: ServerDuplexStream<Buffer, Buffer>) =>
          relayed(
            call,
            async (agent, options) => {
              const upstream = bidiStreamingCall(agent, method, options);
              const sending = (async () => {
                for await (const request of requestsOf(call)) {
                  if (!upstream.write(request)) await upstream.drained();
                }
                upstream.end();
              })();
              // The call is over when the agent's responses are. The caller's stream fails only
              // when the caller cancels, which reaches the agent through the admission's signal.
              sending.catch(() => undefined);
              await sendAll(upstream, call);
            },
            streamAnswer(call),
          );
    }
  };

  const implementation = (def: Record<string, AgentMethod>): UntypedServiceImplementation => {
    const out: UntypedServiceImplementation = {};
    for (const [name, m] of Object.entries(def)) out[name] = handler(rawMethod(m));
    return out;
  };

  server.addService(rawService(ExecServiceDefinition), implementation(ExecServiceDefinition));
  server.addService(rawService(FileServiceDefinition), implementation(FileServiceDefinition));
  server.addService(rawService(ProcessServiceDefinition), implementation(ProcessServiceDefinition));
  return server;
}
