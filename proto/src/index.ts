/**
 * @sandbank/proto: the runtime agent's contract (sandbank.agent.v1). Messages are protobuf-es
 * (schemas as values: `create(RunRequestSchema, {...})`, oneofs as `{ case, value }` unions);
 * services are grpc-js definitions built from them. Import from here, never from `gen/`.
 */

// grpc-js service definitions, handler types and the agent client (grpc-js, and as promises).
export {
  createAgentClient,
  createAgentPromiseClient,
  ExecServiceDefinition,
  FileServiceDefinition,
  HealthServiceDefinition,
  ProcessServiceDefinition,
} from './grpc.js';
export type {
  AgentClient,
  AgentPromiseClient,
  ExecServiceHandlers,
  FileServiceHandlers,
  HealthServiceHandlers,
  ProcessServiceHandlers,
} from './grpc.js';

// Calls by method kind, for any method definition (typed, or raw bytes for a relay).
export {
  bidiStreamingCall,
  clientStreamingCall,
  isServiceError,
  serverStreamingCall,
  unaryCall,
} from './calls.js';
export type { BidiStream, CallMethod, CallOptions } from './calls.js';

// sandbank.agent.v1 ExecService messages.
export {
  ArgvSchema,
  CloseStdinSchema,
  ExecRequestSchema,
  ExecResponseSchema,
  ExecStartSchema,
  ExecStartedSchema,
  ExitStatusSchema,
  ProcessSpecSchema,
  RunRequestSchema,
  RunResponseSchema,
  Signal,
  SignalSchema,
  TerminalSizeSchema,
} from '../gen/ts/sandbank/agent/v1/exec_pb.js';
export type {
  Argv,
  CloseStdin,
  ExecRequest,
  ExecResponse,
  ExecStart,
  ExecStarted,
  ExitStatus,
  ProcessSpec,
  RunRequest,
  RunResponse,
  TerminalSize,
} from '../gen/ts/sandbank/agent/v1/exec_pb.js';

// sandbank.agent.v1 FileService messages.
export {
  FileInfoSchema,
  FileType,
  FileTypeSchema,
  ListDirRequestSchema,
  ListDirResponseSchema,
  MakeDirRequestSchema,
  MakeDirResponseSchema,
  ReadFileRequestSchema,
  ReadFileResponseSchema,
  RemoveRequestSchema,
  RemoveResponseSchema,
  StatRequestSchema,
  StatResponseSchema,
  WriteFileHeaderSchema,
  WriteFileRequestSchema,
  WriteFileResponseSchema,
} from '../gen/ts/sandbank/agent/v1/files_pb.js';
export type {
  FileInfo,
  ListDirRequest,
  ListDirResponse,
  MakeDirRequest,
  MakeDirResponse,
  ReadFileRequest,
  ReadFileResponse,
  RemoveRequest,
  RemoveResponse,
  StatRequest,
  StatResponse,
  WriteFileHeader,
  WriteFileRequest,
  WriteFileResponse,
} from '../gen/ts/sandbank/agent/v1/files_pb.js';

// sandbank.agent.v1 ProcessService messages.
export {
  AttachedSchema,
  AttachProcessRequestSchema,
  AttachProcessResponseSchema,
  GetProcessRequestSchema,
  GetProcessResponseSchema,
  ListProcessesRequestSchema,
  ListProcessesResponseSchema,
  OutputChunkSchema,
  OutputStream,
  OutputStreamSchema,
  ProcessInfoSchema,
  ProcessState,
  ProcessStateSchema,
  RemoveProcessRequestSchema,
  RemoveProcessResponseSchema,
  ResizeProcessRequestSchema,
  ResizeProcessResponseSchema,
  SignalProcessRequestSchema,
  SignalProcessResponseSchema,
  StartProcessRequestSchema,
  StartProcessResponseSchema,
  WaitProcessRequestSchema,
  WaitProcessResponseSchema,
  WriteProcessStdinRequestSchema,
  WriteProcessStdinResponseSchema,
} from '../gen/ts/sandbank/agent/v1/processes_pb.js';
export type {
  Attached,
  AttachProcessRequest,
  AttachProcessResponse,
  GetProcessRequest,
  GetProcessResponse,
  ListProcessesRequest,
  ListProcessesResponse,
  OutputChunk,
  ProcessInfo,
  RemoveProcessRequest,
  RemoveProcessResponse,
  ResizeProcessRequest,
  ResizeProcessResponse,
  SignalProcessRequest,
  SignalProcessResponse,
  StartProcessRequest,
  StartProcessResponse,
  WaitProcessRequest,
  WaitProcessResponse,
  WriteProcessStdinRequest,
  WriteProcessStdinResponse,
} from '../gen/ts/sandbank/agent/v1/processes_pb.js';

// grpc.health.v1 messages.
export {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponse_ServingStatusSchema,
  HealthCheckResponseSchema,
  HealthListRequestSchema,
  HealthListResponseSchema,
} from '../gen/ts/grpc/health/v1/health_pb.js';
export type {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthListRequest,
  HealthListResponse,
} from '../gen/ts/grpc/health/v1/health_pb.js';

// The protobuf-es helpers these messages need, so consumers need no second import for them:
// `create` completes an init shape (`MessageInitShape`), and the timestamp helpers convert
// FileInfo.mod_time.
export { create } from '@bufbuild/protobuf';
export type { MessageInitShape } from '@bufbuild/protobuf';
export { timestampDate, timestampFromDate, timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
export type { Timestamp } from '@bufbuild/protobuf/wkt';

// Which strings may name a background process (agent and router accept the same).
export { PROCESS_ID_PATTERN, PROCESS_ID_RULE } from './process-id.js';

// The legacy REST contract's Python-isms (agent and router must produce the same bytes).
export {
  pyFloat,
  pyListRepr,
  pyQuote,
  pyStatSeconds,
  pyStrRepr,
  pyText,
  pyUnquote,
} from './legacy/python.js';
export { ShlexError, shlexSplit } from './legacy/shlex.js';
