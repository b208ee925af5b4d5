/**
 * A protobuf-es service as promises and async iterables over a grpc-js client: one method per rpc,
 * its shape chosen by the rpc's kind (see calls.ts), so an rpc added to the .proto shows up here
 * with no hand-written adapter.
 */
import type { DescMethod, DescService, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { Client } from '@grpc/grpc-js';
import { bidiStreamingCall, clientStreamingCall, serverStreamingCall, unaryCall } from '../calls.js';
import type { BidiStream, CallOptions } from '../calls.js';
import { methodDefinition } from './service-definition.js';

type InputInit<M extends DescMethod> = MessageInitShape<M['input']>;
type Output<M extends DescMethod> = MessageShape<M['output']>;

/** One rpc: unary → promise, server stream → async iterable, client stream → async iterable in, bidi → duplex. */
export type PromiseMethod<M extends DescMethod> = M['methodKind'] extends 'unary'
  ? (request: InputInit<M>, options?: CallOptions) => Promise<Output<M>>
  : M['methodKind'] extends 'server_streaming'
    ? (request: InputInit<M>, options?: CallOptions) => AsyncIterable<Output<M>>
    : M['methodKind'] extends 'client_streaming'
      ? (requests: AsyncIterable<InputInit<M>>, options?: CallOptions) => Promise<Output<M>>
      : (options?: CallOptions) => BidiStream<InputInit<M>, Output<M>>;

/** Every rpc of service `S`, keyed by its lowerCamel `localName`. */
export type PromiseClient<S extends DescService> = {
  readonly [K in keyof S['method']]: PromiseMethod<S['method'][K]>;
};

/** The rpcs of `service` over `client`'s channel; the caller keeps owning (and closing) `client`. */
export function promiseClient<S extends DescService>(service: S, client: Client): PromiseClient<S> {
  const methods: Record<string, unknown> = {};
  for (const method of service.methods) methods[method.localName] = promiseMethod(client, method);
  // The loop fills exactly the keys of `service.method`, with each rpc's kind deciding its shape,
  // which the mapped type cannot see through (as in serviceDefinition).
  return Object.freeze(methods) as PromiseClient<S>;
}

function promiseMethod(client: Client, rpc: DescMethod): unknown {
  const method = methodDefinition(rpc);
  type In = InputInit<DescMethod>;
  switch (method.kind) {
    case 'unary':
      return (request: In, options?: CallOptions) => unaryCall(client, method, request, options);
    case 'server_streaming':
      return (request: In, options?: CallOptions) => serverStreamingCall(client, method, request, options);
    case 'client_streaming':
      return (requests: AsyncIterable<In>, options?: CallOptions) =>
        clientStreamingCall(client, method, requests, options);
    case 'bidi_streaming':
      return (options?: CallOptions) => bidiStreamingCall(client, method, options);
  }
}
