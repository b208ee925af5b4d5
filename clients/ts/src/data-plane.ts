/** The data plane's public API: commands, processes, files, ports and their errors. */
export { Commands } from './commands/commands.js';
export type {
  CommandResult,
  RunOptions,
  StartOptions,
  TraceOptions,
  WaitOptions,
} from './commands/commands.js';
export { SpawnedProcess } from './commands/spawned-process.js';
export type { SpawnOptions, SpawnResult } from './commands/spawned-process.js';
export type { OutputChannel } from './commands/output-channel.js';
export { ProcessAttachment } from './commands/attachment.js';
export type { AttachOptions } from './commands/attachment.js';
export type { ProcessOutput } from './commands/attach-frames.js';
export type { Command, ExitStatus, ProcessInfo, SignalName, TerminalSize } from './commands/wire.js';
export { Files } from './files.js';
export type {
  FileContent,
  FileInfo,
  FileRead,
  ReadBytesOptions,
  ReadOptions,
  WriteOptions,
} from './files.js';
export { Ports } from './ports.js';
export type { PortRequestOptions, PreviewLink } from './ports.js';
export type { CallOptions, RequestBody } from './http/request.js';
export type { RouterErrorInit } from './errors.js';
export {
  ClientTimeout,
  ProtocolError,
  RouterError,
  RouterUnreachable,
  SizeLimitExceeded,
  StreamClosed,
} from './errors.js';
export * from './generated/router-errors.js';
