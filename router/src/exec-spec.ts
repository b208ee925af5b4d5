/**
 * The exec request of the Sandbank API, shared by `POST …/exec` (JSON) and the WebSocket start
 * frame, and its translation to the agent's ProcessSpec.
 */
import { z } from 'zod';
import type { ExitStatus, ProcessSpec } from '@sandbank/proto';
import { FileType, create, ProcessSpecSchema } from '@sandbank/proto';
import { timestampRfc3339 } from './agent/file-info.js';
import type { AgentFileInfo } from './agent/file-info.js';

const UINT32_MAX = 2 ** 32 - 1;

/** Bytes of stdout, and separately stderr, a buffered exec keeps when the caller names no cap. */
export const DEFAULT_BUFFERED_OUTPUT_BYTES = 1024 * 1024;

/**
 * The most a buffered exec (`POST …/exec`, legacy `POST /execute`, passthrough `Run`) may keep
 * per stream. The router holds a buffered result whole until it is sent, so this bounds what one
 * request can take of its memory; larger output streams (WebSocket exec, gRPC `Exec`).
 */
export const MAX_BUFFERED_OUTPUT_BYTES = 4 * 1024 * 1024;

/** The exit status and protobuf framing of a Run reply, and the JSON encoding window. */
export const BUFFERED_RUN_OVERHEAD_BYTES = 256 * 1024;

/**
 * What a buffered exec with this cap holds of the router's buffered-output budget: both streams
 * at the cap, plus the rest of the agent's reply and the response's encoding window.
 */
export function bufferedRunBytes(capPerStream: number): number {
  return 2 * capPerStream + BUFFERED_RUN_OVERHEAD_BYTES;
}

export const ProcessRequest = z.strictObject({
  /** Program and arguments, run without a shell. Exactly one of command and shell. */
  command: z.array(z.string()).min(1).optional(),
  /** A shell command line, run as `/bin/sh -c`. */
  shell: z.string().min(1).optional(),
  env: z.record(z.string(), z.string()).optional(),
  /** Working directory, a workspace path. */
  cwd: z.string().optional(),
  /** The agent kills the process group after this long; 0: no limit of its own. */
  timeoutMs: z.number().int().min(0).max(UINT32_MAX).optional(),
});

export const ExecRequestBody = ProcessRequest.extend({
  stdin: z.string().optional(),
  stdinEncoding: z.enum(['utf8', 'base64']).default('utf8'),
  outputEncoding: z.enum(['utf8', 'base64']).default('utf8'),
  /** Bytes of stdout, and separately stderr, to keep; the rest is dropped and flagged. */
  maxOutputBytes: z
    .number()
    .int()
    .positive()
    .max(MAX_BUFFERED_OUTPUT_BYTES, {
      message: `at most ${MAX_BUFFERED_OUTPUT_BYTES} bytes per stream are buffered; stream larger output over the WebSocket exec`,
    })
    .optional(),
}).refine((b) => (b.command === undefined) !== (b.shell === undefined), {
  message: 'exactly one of command and shell is required',
  path: ['command'],
});
export type ExecRequestBody = z.infer<typeof ExecRequestBody>;

export function processSpec(req: z.infer<typeof ProcessRequest>): ProcessSpec {
  return create(ProcessSpecSchema, {
    command:
      req.command !== undefined
        ? { case: 'argv', value: { args: req.command } }
        : { case: 'shell', value: req.shell ?? '' },
    env: req.env ?? {},
    cwd: req.cwd ?? '',
    ...(req.timeoutMs === undefined ? {} : { timeoutMs: req.timeoutMs }),
  });
}

export interface ExitJson {
  exitCode: number;
  signal: string;
  timedOut: boolean;
  oomKilled: boolean;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
}

export function exitJson(exit: ExitStatus | undefined): ExitJson {
  return {
    exitCode: exit?.exitCode ?? -1,
    signal: exit?.signal ?? '',
    timedOut: exit?.timedOut ?? false,
    oomKilled: exit?.oomKilled ?? false,
    stdoutTruncated: exit?.stdoutTruncated ?? false,
    stderrTruncated: exit?.stderrTruncated ?? false,
    durationMs: exit?.durationMs ?? 0,
  };
}

const TYPE_NAMES: Record<AgentFileInfo['type'], string> = {
  [FileType.FILE]: 'file',
  [FileType.DIRECTORY]: 'directory',
  [FileType.SYMLINK]: 'symlink',
  [FileType.OTHER]: 'other',
};

export interface FileInfoJson {
  name: string;
  path: string;
  size: number;
  type: string;
  mode: number;
  modTime: string | null;
}

/** A FileInfo the agent sent, once checked (agent/file-info.ts), as the Sandbank API's JSON. */
export function fileInfoJson(info: AgentFileInfo): FileInfoJson {
  return {
    name: info.name,
    path: info.path,
    size: Number(info.size),
    type: TYPE_NAMES[info.type],
    mode: info.mode,
    modTime: info.modTime ? timestampRfc3339(info.modTime) : null,
  };
}
