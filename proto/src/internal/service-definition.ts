/**
 * The seam between protobuf-es and grpc-js: a grpc-js service definition built from a
 * protobuf-es service descriptor, plus the server and client types it implies.
 *
 * grpc-js needs, per method, a path and four (de)serializers; protobuf-es gives us the schemas.
 * Deriving both the definitions and their types from the generated descriptor keeps one
 * codegen stack (protoc-gen-es) and one source of truth (the .proto): an rpc added there shows
 * up here with no hand-written list to update.
 *
 * Outgoing messages may be init shapes (`{ path: 'a.txt' }`) or full messages; incoming ones
 * are always full messages. That is why handlers see `MessageShape` requests but may answer
 * with `MessageInitShape` responses, and clients the other way round.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from '@bufbuild/protobuf';
import type {
  CallOptions,
  Client,
  ClientDuplexStream,
  ClientReadableStream,
  ClientUnaryCall,
  ClientWritableStream,
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  requestCallback,
} from '@grpc/grpc-js';

type Input<M extends DescMethod> = MessageShape<M['input']>;
type InputInit<M extends DescMethod> = MessageInitShape<M['input']>;
type Output<M extends DescMethod> = MessageShape<M['output']>;
type OutputInit<M extends DescMethod> = MessageInitShape<M['output']>;

/** A grpc-js method definition whose (de)serializers know the method's message types. */
export interface TypedMethodDefinition<M extends DescMethod> {
  /** `/<package>.<Service>/<Method>`, the HTTP/2 path of the call. */
  readonly path: string;
  /** The rpc's kind; grpc-js reads only the two flags below, which say the same. */
  readonly kind: M['methodKind'];
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (message: InputInit<M>) => Buffer;
  readonly requestDeserialize: (bytes: Buffer) => Input<M>;
  readonly responseSerialize: (message: OutputInit<M>) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => Output<M>;
}

/** A grpc-js `ServiceDefinition` keyed by each method's lowerCamel `localName`. */
export type TypedServiceDefinition<S extends DescService> = {
  readonly [K in keyof S['method']]: TypedMethodDefinition<S['method'][K]>;
};

/** The grpc-js server handler for one method, by its kind. */
export type MethodHandler<M extends DescMethod> = M['methodKind'] extends 'unary'
  ? handleUnaryCall<Input<M>, OutputInit<M>>
  : M['methodKind'] extends 'server_streaming'
    ? handleServerStreamingCall<Input<M>, OutputInit<M>>
    : M['methodKind'] extends 'client_streaming'
      ? handleClientStreamingCall<Input<M>, OutputInit<M>>
      : handleBidiStreamingCall<Input<M>, OutputInit<M>>;

/** What `server.addService(definition, handlers)` needs for service `S`: every method. */
export type ServiceHandlers<S extends DescService> = {
  [K in keyof S['method']]: MethodHandler<S['method'][K]>;
};

/** A unary client method: the overloads grpc-js's generic client accepts. */
export interface UnaryClientMethod<Req, Res> {
  (request: Req, callback: requestCallback<Res>): ClientUnaryCall;
  (request: Req, metadataOrOptions: Metadata | CallOptions, callback: requestCallback<Res>): ClientUnaryCall;
  (request: Req, metadata: Metadata, options: CallOptions, callback: requestCallback<Res>): ClientUnaryCall;
}

/** A server-streaming client method; the returned stream is also an async iterable. */
export interface ServerStreamingClientMethod<Req, Res> {
  (request: Req, options?: CallOptions): ClientReadableStream<Res>;
  (request: Req, metadata?: Metadata, options?: CallOptions): ClientReadableStream<Res>;
}

/** A client-streaming client method: write requests, `end()`, then the callback fires. */
export interface ClientStreamingClientMethod<Req, Res> {
  (callback: requestCallback<Res>): ClientWritableStream<Req>;
  (metadataOrOptions: Metadata | CallOptions, callback: requestCallback<Res>): ClientWritableStream<Req>;
  (metadata: Metadata, options: CallOptions, callback: requestCallback<Res>): ClientWritableStream<Req>;
}

/** A bidi-streaming client method: a duplex of request writes and response reads. */
export interface BidiStreamingClientMethod<Req, Res> {
  (options?: CallOptions): ClientDuplexStream<Req, Res>;
  (metadata?: Metadata, options?: CallOptions): ClientDuplexStream<Req, Res>;
}

/** The client method for one rpc, by its kind. */
export type ClientMethod<M extends DescMethod> = M['methodKind'] extends 'unary'
  ? UnaryClientMethod<InputInit<M>, Output<M>>
  : M['methodKind'] extends 'server_streaming'
    ? ServerStreamingClientMethod<InputInit<M>, Output<M>>
    : M['methodKind'] extends 'client_streaming'
      ? ClientStreamingClientMethod<InputInit<M>, Output<M>>
      : BidiStreamingClientMethod<InputInit<M>, Output<M>>;

/** A grpc-js client with one typed method per rpc of service `S`. */
export type ServiceClient<S extends DescService> = Client & {
  [K in keyof S['method']]: ClientMethod<S['method'][K]>;
};

/** Builds the grpc-js definition of a protobuf-es service; see the module comment. */
export function serviceDefinition<S extends DescService>(service: S): TypedServiceDefinition<S> {
  const definition: Record<string, TypedMethodDefinition<DescMethod>> = {};
  for (const method of service.methods) {
    definition[method.localName] = Object.freeze(methodDefinition(method));
  }
  // The loop fills exactly the keys of `service.method` (protobuf-es indexes it by localName),
  // which the mapped type cannot see through.
  return Object.freeze(definition) as TypedServiceDefinition<S>;
}

/** The grpc-js definition of one rpc. */
export function methodDefinition(method: DescMethod): TypedMethodDefinition<DescMethod> {
  const kind = method.methodKind;
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    kind,
    requestStream: kind === 'client_streaming' || kind === 'bidi_streaming',
    responseStream: kind === 'server_streaming' || kind === 'bidi_streaming',
    requestSerialize: serializer(method.input),
    requestDeserialize: deserializer(method.input),
    responseSerialize: serializer(method.output),
    responseDeserialize: deserializer(method.output),
  };
}

function serializer<D extends DescMessage>(schema: D): (message: MessageInitShape<D>) => Buffer {
  return (message) => {
    // `create` returns a full message unchanged and completes an init shape.
    const bytes = toBinary(schema, create(schema, message));
    // A view, not a copy: `bytes` is fresh and owned by nobody else.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D): (bytes: Buffer) => MessageShape<D> {
  // `bytes` fields come back as views into the input. Reading through a plain Uint8Array view
  // makes them Uint8Array, as protobuf-es declares, rather than Buffer.
  return (bytes) => fromBinary(schema, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
