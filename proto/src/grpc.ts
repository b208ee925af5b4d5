/**
 * grpc-js service definitions and the typed client of the runtime agent.
 *
 * The agent serves two services of sandbank.agent.v1, kept apart because they are separate
 * concerns with separate handlers and tests, plus gRPC's standard health service:
 *
 * ```ts
 * const server = new Server();
 * server.addService(ExecServiceDefinition, execHandlers); // ExecServiceHandlers
 * server.addService(FileServiceDefinition, fileHandlers); // FileServiceHandlers
 * server.addService(HealthServiceDefinition, healthHandlers); // HealthServiceHandlers
 * ```
 *
 * Callers get one client for both agent services over one channel: method paths are absolute
 * (`/sandbank.agent.v1.FileService/Stat`), so a single grpc-js client can carry both.
 */
import { makeGenericClientConstructor } from '@grpc/grpc-js';
import type { ChannelCredentials, Client, ClientOptions } from '@grpc/grpc-js';
import { ExecService } from '../gen/ts/sandbank/agent/v1/exec_pb.js';
import { FileService } from '../gen/ts/sandbank/agent/v1/files_pb.js';
import { ProcessService } from '../gen/ts/sandbank/agent/v1/processes_pb.js';
import { Health } from '../gen/ts/grpc/health/v1/health_pb.js';
import { promiseClient } from './internal/promise-client.js';
import type { PromiseClient } from './internal/promise-client.js';
import { serviceDefinition } from './internal/service-definition.js';
import type { ServiceClient, ServiceHandlers } from './internal/service-definition.js';

/** `sandbank.agent.v1.ExecService` for grpc-js: methods `exec` (bidi) and `run` (unary). */
export const ExecServiceDefinition = serviceDefinition(ExecService);

/**
 * `sandbank.agent.v1.FileService` for grpc-js: `readFile` (server stream), `writeFile` (client
 * stream), and unary `listDir`, `stat`, `remove`, `makeDir`.
 */
export const FileServiceDefinition = serviceDefinition(FileService);

/**
 * `sandbank.agent.v1.ProcessService` for grpc-js: unary `startProcess`, `listProcesses`,
 * `getProcess`, `writeProcessStdin`, `signalProcess`, `resizeProcess`, `waitProcess`,
 * `removeProcess`, and
 * `attachProcess` (server stream).
 */
export const ProcessServiceDefinition = serviceDefinition(ProcessService);

/** `grpc.health.v1.Health` for grpc-js: `check`, `list` (unary) and `watch` (server stream). */
export const HealthServiceDefinition = serviceDefinition(Health);

/** The handlers an agent registers for ExecService. */
export type ExecServiceHandlers = ServiceHandlers<typeof ExecService>;

/** The handlers an agent registers for FileService. */
export type FileServiceHandlers = ServiceHandlers<typeof FileService>;

/** The handlers an agent registers for ProcessService. */
export type ProcessServiceHandlers = ServiceHandlers<typeof ProcessService>;

/** The handlers an agent registers for the gRPC health service. */
export type HealthServiceHandlers = ServiceHandlers<typeof Health>;

/**
 * A grpc-js client of the runtime agent: every ExecService, FileService and ProcessService rpc
 * as a method named in lowerCamel (`exec`, `run`, `readFile`, `writeFile`, `listDir`, `stat`,
 * `remove`, `makeDir`, `startProcess`, `attachProcess`, …), plus grpc-js `Client` (`close()`,
 * `waitForReady()`, `getChannel()`).
 */
export type AgentClient = ServiceClient<typeof ExecService> &
  ServiceClient<typeof FileService> &
  ServiceClient<typeof ProcessService>;

const AgentClientConstructor = makeGenericClientConstructor(
  { ...ExecServiceDefinition, ...FileServiceDefinition, ...ProcessServiceDefinition },
  'sandbank.agent.v1.Agent',
);

/**
 * Creates a client of the agent at `address` (`host:port`). Connecting is lazy: the channel
 * dials on the first call. Pass deadlines per call and keepalive (`grpc.keepalive_time_ms`, …)
 * in `options`; the caller owns the client and must `close()` it.
 */
export function createAgentClient(
  address: string,
  credentials: ChannelCredentials,
  options?: ClientOptions,
): AgentClient {
  // The generic constructor types its methods as `Function`; the definitions it was built from
  // are the typed ones above, so the methods have exactly the signatures AgentClient states.
  return new AgentClientConstructor(address, credentials, options) as unknown as AgentClient;
}

/**
 * The agent's rpcs as promises and async iterables (see calls.ts): `run`, `stat`, `listDir`,
 * `remove`, `makeDir` answer a promise; `readFile` is an async iterable; `writeFile` takes one;
 * `exec` is a duplex. Every method takes `{ metadata, deadline, signal }` last.
 */
export type AgentPromiseClient = PromiseClient<typeof ExecService> &
  PromiseClient<typeof FileService> &
  PromiseClient<typeof ProcessService>;

/**
 * The agent's rpcs over the channel of `client` (an AgentClient, or any grpc-js client connected
 * to an agent); closing stays with whoever owns `client`.
 */
export function createAgentPromiseClient(client: Client): AgentPromiseClient {
  return {
    ...promiseClient(ExecService, client),
    ...promiseClient(FileService, client),
    ...promiseClient(ProcessService, client),
  };
}
