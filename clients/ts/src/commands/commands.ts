/**
 * `sandbox.commands`: run a command and get its buffered result (HTTP exec), spawn one streamed
 * over the WebSocket exec, and background processes the agent keeps running whoever is connected
 * (start, list, get, attach, writeStdin, signal, resize, wait, remove).
 */
import type { RouterConnection, SandboxTarget } from '../connection.js';
import { ClientTimeout } from '../errors.js';
import { sandboxPath } from '../http/paths.js';
import { callEmpty, callJson } from '../http/request.js';
import type { CallOptions } from '../http/request.js';
import { ProcessAttachment } from './attachment.js';
import type { AttachOptions } from './attachment.js';
import { SpawnedProcess } from './spawned-process.js';
import type { SpawnOptions } from './spawned-process.js';
import {
  ExecResultSchema,
  MAX_BUFFERED_OUTPUT_BYTES,
  processFields,
  processId,
  ProcessListSchema,
  ProcessSchema,
  signalName,
  terminalSize,
} from './wire.js';
import type { Command, ExitStatus, ProcessFieldsOptions, ProcessInfo, TerminalSize } from './wire.js';

/** Extra time an exec call may take beyond the command's own `timeoutMs` (router and network). */
const CALL_MARGIN_MS = 10_000;
/**
 * How long a call whose answer waits on the sandbox waits for it: a `run` without `timeoutMs`
 * (answered once the command ended), `writeStdin` (once the process took the bytes). The router's
 * default request limit (180 s, by which it answers itself) and the margin. A router allowed
 * longer requests needs `timeoutMs` for a longer command; unbounded, a hung router would hold
 * the call for ever.
 */
const SANDBOX_ANSWER_WAIT_MS = 180_000 + CALL_MARGIN_MS;
/**
 * Longest single `…/wait` call: the router answers `running` a second before its own request
 * timeout (180 s by default) anyway; a shorter slice keeps a dead connection from hiding longer.
 */
const WAIT_SLICE_MS = 60_000;

/** Cancellation and W3C trace context, which every call takes. */
export type TraceOptions = Pick<CallOptions, 'signal' | 'traceparent' | 'tracestate'>;

/** The options of `commands.run`. */
export interface RunOptions extends ProcessFieldsOptions, TraceOptions {
  /** Bytes (or UTF-8 text) on the command's stdin, then EOF. */
  readonly stdin?: Uint8Array | string;
  /** Output kept per stream (the router's default 1 MiB, at most 4 MiB); past it, `truncated`. */
  readonly maxOutputBytes?: number;
}

/** How a command ended, with its output (cut at `maxOutputBytes`: then `truncated`). */
export interface CommandResult extends ExitStatus {
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutBytes: Uint8Array;
  readonly stderrBytes: Uint8Array;
  readonly truncated: boolean;
}

/** The options of `commands.start` (a background process). */
export interface StartOptions extends ProcessFieldsOptions, TraceOptions {
  /** Keep stdin open for writeStdin (default: with a terminal only). */
  readonly stdin?: boolean;
  /** Run on a pseudo-terminal of this size (one output stream, as stdout). */
  readonly pty?: TerminalSize;
}

/** The options of `commands.wait`. */
export interface WaitOptions extends TraceOptions {
  /** Give up after this long with ClientTimeout (the process runs on); default: wait for the exit. */
  readonly timeoutMs?: number;
}

function decode(text: string, encoding: 'utf8' | 'base64'): Buffer {
  return encoding === 'base64' ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
}

function trace(options: TraceOptions): TraceOptions {
  return {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.traceparent === undefined ? {} : { traceparent: options.traceparent }),
    ...(options.tracestate === undefined ? {} : { tracestate: options.tracestate }),
  };
}

export class Commands {
  constructor(
    private readonly conn: RouterConnection,
    private readonly target: SandboxTarget,
  ) {}

  private path(rest: string): string {
    return sandboxPath(this.target, rest);
  }

  private processPath(id: string, action = ''): string {
    return this.path(`/processes/${processId(id)}${action}`);
  }

  /**
   * Runs `command` (argv, or a string for `/bin/sh -c`) and returns its exit and output. Never sent
   * twice once it may have reached the sandbox (see http/retry.ts).
   */
  async run(command: Command, options: RunOptions = {}): Promise<CommandResult> {
    const { stdin, maxOutputBytes } = options;
    if (
      maxOutputBytes !== undefined &&
      (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 1 || maxOutputBytes > MAX_BUFFERED_OUTPUT_BYTES)
    )
      throw new TypeError(
        `maxOutputBytes: must be an integer from 1 to ${MAX_BUFFERED_OUTPUT_BYTES}, got ${maxOutputBytes}`,
      );
    const json = {
      ...processFields(command, options),
      ...(stdin === undefined
        ? {}
        : {
            stdin: Buffer.from(stdin).toString('base64'),
            stdinEncoding: 'base64',
          }),
      outputEncoding: 'base64',
      ...(maxOutputBytes === undefined ? {} : { maxOutputBytes }),
    };
    const result = await callJson(
      this.conn,
      {
        method: 'POST',
        path: this.path('/exec'),
        json,
        idempotent: false,
        ...trace(options),
        ...(options.timeoutMs === undefined
          ? { headersWithinMs: SANDBOX_ANSWER_WAIT_MS }
          : { timeoutMs: options.timeoutMs + CALL_MARGIN_MS }),
      },
      ExecResultSchema,
      'exec',
    );
    const { stdout, stderr, encoding, ...exit } = result;
    const stdoutBytes = decode(stdout, encoding);
    const stderrBytes = decode(stderr, encoding);
    return {
      ...exit,
      stdout: stdoutBytes.toString('utf8'),
      stderr: stderrBytes.toString('utf8'),
      stdoutBytes,
      stderrBytes,
      truncated: exit.stdoutTruncated || exit.stderrTruncated,
    };
  }

  /** Starts `command` streamed over a WebSocket; resolves once it runs. */
  spawn(command: Command, options: SpawnOptions = {}): Promise<SpawnedProcess> {
    return SpawnedProcess.spawn(this.conn, this.target, command, options);
  }

  /**
   * Starts `command` detached: it runs until it exits (or `timeoutMs` passes), whoever is
   * connected; its `id` is what `attach` and the others take. The agent's limits answer
   * ResourceExhausted naming the limit.
   */
  async start(command: Command, options: StartOptions = {}): Promise<ProcessInfo> {
    const json = {
      ...processFields(command, options),
      stdin: options.stdin ?? options.pty !== undefined,
      ...(options.pty ? { tty: terminalSize(options.pty) } : {}),
    };
    return callJson(
      this.conn,
      { method: 'POST', path: this.path('/processes'), json, idempotent: false, ...trace(options) },
      ProcessSchema,
      'process',
    );
  }

  /** Every process the agent retains, running or exited. */
  async list(options: TraceOptions = {}): Promise<ProcessInfo[]> {
    const spec = { method: 'GET', path: this.path('/processes'), idempotent: true, ...trace(options) };
    return (await callJson(this.conn, spec, ProcessListSchema, 'processes')).processes;
  }

  /** One background process by id (`NotFound` once removed). */
  async get(id: string, options: TraceOptions = {}): Promise<ProcessInfo> {
    const spec = { method: 'GET', path: this.processPath(id), idempotent: true, ...trace(options) };
    return callJson(this.conn, spec, ProcessSchema, 'process');
  }

  /** Reads the output from `fromOffset` (resuming on its own after a cut connection). */
  attach(id: string, options: AttachOptions = {}): Promise<ProcessAttachment> {
    return ProcessAttachment.open(this.conn, this.processPath(id, '/attach'), id, options);
  }

  /** Writes to its stdin (started with `stdin: true`); `close` sends EOF after. */
  async writeStdin(
    id: string,
    data: Uint8Array | string,
    options: TraceOptions & { close?: boolean } = {},
  ): Promise<void> {
    const raw = Buffer.from(data);
    const json = { data: raw.toString('base64'), encoding: 'base64', close: options.close ?? false };
    await callEmpty(this.conn, {
      method: 'POST',
      path: this.processPath(id, '/stdin'),
      json,
      idempotent: false,
      headersWithinMs: SANDBOX_ANSWER_WAIT_MS,
      ...trace(options),
    });
  }

  /** SIGHUP, SIGINT, SIGTERM or SIGKILL to its process group. */
  async signal(id: string, signal: string = 'SIGTERM', options: TraceOptions = {}): Promise<void> {
    const json = { signal: signalName(signal) };
    await callEmpty(this.conn, {
      method: 'POST',
      path: this.processPath(id, '/signal'),
      json,
      idempotent: false,
      ...trace(options),
    });
  }

  /** A new terminal size for a process started with `pty` (the same size twice is safe to resend). */
  async resize(id: string, size: TerminalSize, options: TraceOptions = {}): Promise<void> {
    const json = terminalSize(size);
    await callEmpty(this.conn, {
      method: 'POST',
      path: this.processPath(id, '/resize'),
      json,
      idempotent: true,
      ...trace(options),
    });
  }

  /** Waits until it exited (`exit` set); ClientTimeout after `timeoutMs` (the process runs on). */
  async wait(id: string, options: WaitOptions = {}): Promise<ProcessInfo> {
    const { timeoutMs } = options;
    if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs < 0))
      throw new TypeError(`timeoutMs: must not be negative, got ${timeoutMs}`);
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const path = this.processPath(id, '/wait');
    for (let first = true; ; first = false) {
      const left = deadline === undefined ? WAIT_SLICE_MS : Math.min(WAIT_SLICE_MS, deadline - Date.now());
      // timeoutMs 0 still asks once: a process that already exited is returned.
      if (left <= 0 && !first)
        throw new ClientTimeout(`process ${id} still running after ${timeoutMs ?? 0} ms`);
      const slice = Math.max(0, Math.floor(left));
      const info = await callJson(
        this.conn,
        {
          method: 'POST',
          path,
          json: { timeoutMs: slice },
          idempotent: true,
          timeoutMs: slice + CALL_MARGIN_MS,
          ...trace(options),
        },
        ProcessSchema,
        'process',
      );
      if (info.state === 'exited') return info;
    }
  }

  /** Forgets an exited process and its output (FailedPrecondition while it runs). */
  async remove(id: string, options: TraceOptions = {}): Promise<void> {
    await callEmpty(this.conn, {
      method: 'DELETE',
      path: this.processPath(id),
      idempotent: false,
      ...trace(options),
    });
  }
}
