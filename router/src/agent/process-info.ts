/**
 * Background processes as the agent describes them (ProcessService), checked before the router
 * prints any of it, and process ids as callers name them, checked before they reach the agent.
 *
 * The agent runs inside the sandbox, whose code controls it (DESIGN §11): every field may hold
 * anything its wire type holds, so a reply outside the protocol is the agent's failure
 * (upstream_failed), never printed as something else (an offset rounded, an id the router would
 * not accept back from a caller).
 */
import { z } from 'zod';
import { formatZodError } from '@sandbank/api';
import { PROCESS_ID_PATTERN, PROCESS_ID_RULE, ProcessState } from '@sandbank/proto';
import type { ExitStatus, ProcessInfo } from '@sandbank/proto';
import { RouterError } from '../errors.js';
import { exitJson } from '../exec-spec.js';
import type { ExitJson } from '../exec-spec.js';
import { timestampRfc3339 } from './file-info.js';
import type { AgentTimestamp } from './file-info.js';
import { MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS } from './file-info.js';

/** A process id (@sandbank/proto's rule): nothing else reaches the agent or a caller. */
export const ProcessId = z
  .string()
  .regex(new RegExp(PROCESS_ID_PATTERN), `must be ${PROCESS_ID_RULE} (a process id)`);

/** The agent cuts its display command to 256 characters; a little room for how it counts them. */
const MAX_COMMAND_CHARS = 1024;
/** JSON numbers (offsets in the API) are exact up to 2^53 - 1. */
const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);

export const Offset = z.bigint().min(0n).max(MAX_OFFSET, { message: 'must be at most 2^53 - 1' });

const Timestamp = z.object({
  seconds: z.bigint().min(MIN_TIMESTAMP_SECONDS).max(MAX_TIMESTAMP_SECONDS),
  nanos: z.number().int().min(0).max(999_999_999),
});

const Exit = z.object({
  exitCode: z.number().int(),
  signal: z.string().max(32),
  timedOut: z.boolean(),
  oomKilled: z.boolean(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  durationMs: z.number().int().min(0),
});

const AgentProcessInfo = z
  .object({
    id: ProcessId,
    pid: z.number().int().min(0),
    command: z.string().max(MAX_COMMAND_CHARS),
    state: z.union([z.literal(ProcessState.RUNNING), z.literal(ProcessState.EXITED)], {
      message: 'must be RUNNING or EXITED',
    }),
    exit: Exit.optional(),
    startedAt: Timestamp.optional(),
    endedAt: Timestamp.optional(),
    firstOffset: Offset,
    endOffset: Offset,
    stdinOpen: z.boolean(),
  })
  .refine((p) => p.firstOffset <= p.endOffset, {
    message: 'must not be past endOffset',
    path: ['firstOffset'],
  })
  .refine((p) => (p.state === ProcessState.EXITED) === (p.exit !== undefined), {
    message: 'must be set exactly when the state is EXITED',
    path: ['exit'],
  });
type AgentProcessInfo = z.infer<typeof AgentProcessInfo>;

/** A process as the Sandbank API prints it. */
export interface ProcessJson {
  id: string;
  pid: number;
  command: string;
  state: 'running' | 'exited';
  exit: ExitJson | null;
  startedAt: string | null;
  endedAt: string | null;
  firstOffset: number;
  endOffset: number;
  stdinOpen: boolean;
}

function ts(t: AgentTimestamp | undefined): string | null {
  return t === undefined ? null : timestampRfc3339(t);
}

function json(p: AgentProcessInfo, raw: ProcessInfo): ProcessJson {
  return {
    id: p.id,
    pid: p.pid,
    command: p.command,
    state: p.state === ProcessState.RUNNING ? 'running' : 'exited',
    exit: raw.exit === undefined ? null : exitJson(raw.exit),
    startedAt: ts(p.startedAt),
    endedAt: ts(p.endedAt),
    firstOffset: Number(p.firstOffset),
    endOffset: Number(p.endOffset),
    stdinOpen: p.stdinOpen,
  };
}

function invalid(what: string, error: z.ZodError): RouterError {
  return new RouterError('upstream_failed', `the sandbox agent sent ${what}: ${formatZodError(error)}`);
}

/** One ProcessInfo the agent sent (required), as JSON; throws upstream_failed naming the field. */
export function processJson(info: ProcessInfo | undefined, expectedId?: string): ProcessJson {
  const parsed = AgentProcessInfo.safeParse(info);
  if (!parsed.success || info === undefined)
    throw invalid('an invalid process', parsed.error ?? new z.ZodError([]));
  if (expectedId !== undefined && parsed.data.id !== expectedId) {
    throw new RouterError('upstream_failed', 'the sandbox agent answered about another process than asked');
  }
  return json(parsed.data, info);
}

/** A ListProcesses reply; a bad entry fails the whole list (a blanked entry would look valid). */
export function processListJson(infos: readonly ProcessInfo[]): ProcessJson[] {
  return infos.map((info, i) => {
    try {
      return processJson(info);
    } catch (e) {
      if (e instanceof RouterError) throw new RouterError(e.code, `processes[${i}]: ${e.message}`);
      throw e;
    }
  });
}

/** An exit status the agent sent at the end of an attach, checked. */
export function exitStatusJson(exit: ExitStatus): ExitJson {
  const parsed = Exit.safeParse(exit);
  if (!parsed.success) throw invalid('an invalid exit status', parsed.error);
  return exitJson(exit);
}
