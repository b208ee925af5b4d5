/**
 * The exec and process shapes of the router's protocol (router/README.md, router/openapi.json):
 * what the client sends, built and checked here so a bad argument fails naming it, and the zod
 * schemas of what the router answers.
 */
import { z } from 'zod';

/** argv (run as is) or a string (run by `/bin/sh -c`). */
export type Command = string | readonly string[];

export interface ProcessFieldsOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** The agent kills the command after this long (it then reports `timedOut`). */
  readonly timeoutMs?: number;
}

export interface ProcessFields {
  command?: string[];
  shell?: string;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

export function processFields(command: Command, options: ProcessFieldsOptions): ProcessFields {
  const fields: ProcessFields = {};
  if (typeof command === 'string') {
    if (command.trim() === '') throw new TypeError('command: must not be empty');
    fields.shell = command;
  } else {
    if (command.length === 0) throw new TypeError('command: must not be an empty list');
    fields.command = [...command];
  }
  if (options.env && Object.keys(options.env).length > 0) fields.env = { ...options.env };
  if (options.cwd) fields.cwd = options.cwd;
  if (options.timeoutMs !== undefined) {
    if (!Number.isInteger(options.timeoutMs) || options.timeoutMs <= 0)
      throw new TypeError(`timeoutMs: must be a positive integer, got ${options.timeoutMs}`);
    fields.timeoutMs = options.timeoutMs;
  }
  return fields;
}

/** The router's bounds on a terminal's rows and columns (each). */
export const TERMINAL_MAX = 10_000;

/** A terminal's size in character cells. */
export interface TerminalSize {
  readonly rows: number;
  readonly cols: number;
}

export function terminalSize(size: TerminalSize): { cols: number; rows: number } {
  for (const [field, value] of [
    ['rows', size.rows],
    ['cols', size.cols],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > TERMINAL_MAX)
      throw new TypeError(`${field}: must be an integer from 1 to ${TERMINAL_MAX}, got ${value}`);
  }
  return { cols: size.cols, rows: size.rows };
}

export const SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGKILL'] as const;
/** The signals a process can be sent. */
export type SignalName = (typeof SIGNALS)[number];

/** `'int'`, `'SIGINT'` → `'SIGINT'`; only the signals the router relays. */
export function signalName(signal: string): SignalName {
  const upper = signal.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const known = SIGNALS.find((s) => s === name);
  if (!known) throw new TypeError(`signal: must be one of ${SIGNALS.join(', ')}, got ${signal}`);
  return known;
}

/** Largest maxOutputBytes the router takes for buffered exec (it answers 400 above it). */
export const MAX_BUFFERED_OUTPUT_BYTES = 4 << 20;

/** Offsets are JSON numbers in the API, exact up to 2^53 - 1. */
const Offset = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
const Time = z.iso.datetime({ offset: true }).nullable();

export const ExitStatusSchema = z.object({
  exitCode: z.int(),
  signal: z.string(),
  timedOut: z.boolean(),
  oomKilled: z.boolean(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  durationMs: z.int().min(0),
});

/** How a command ended. `exitCode` is -1 when a signal (`signal`, e.g. `SIGKILL`) ended it. */
export type ExitStatus = z.infer<typeof ExitStatusSchema>;

export const ExecResultSchema = ExitStatusSchema.extend({
  stdout: z.string(),
  stderr: z.string(),
  encoding: z.enum(['utf8', 'base64']),
});

export const ProcessSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
    pid: z.int(),
    command: z.string(),
    state: z.enum(['running', 'exited']),
    exit: ExitStatusSchema.nullable(),
    startedAt: Time.optional(),
    endedAt: Time.optional(),
    firstOffset: Offset,
    endOffset: Offset,
    stdinOpen: z.boolean(),
  })
  .refine((p) => (p.exit === null) === (p.state === 'running'), {
    path: ['exit'],
    message: 'must be set exactly when the state is exited',
  })
  .refine((p) => p.firstOffset <= p.endOffset, { path: ['firstOffset'], message: 'is past endOffset' });

/**
 * A background process as the agent describes it. Its output is addressed by byte offsets
 * (stdout and stderr in one offset space): `firstOffset` is the first byte still retained,
 * `endOffset` one past the last so far.
 */
export type ProcessInfo = z.infer<typeof ProcessSchema>;

export const ProcessListSchema = z.object({ processes: z.array(ProcessSchema) });

export const AttachedSchema = z.object({
  startOffset: Offset,
  bytesDropped: z.boolean(),
  process: ProcessSchema,
});

/** A process id as the router accepts one: checked here so a bad one fails naming the argument. */
export function processId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id))
    throw new TypeError(
      `id: must be 1-64 letters, digits, '_', '.' or '-' (a process id), got ${id.slice(0, 80)}`,
    );
  return encodeURIComponent(id);
}
