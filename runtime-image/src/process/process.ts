/**
 * One process of the sandbox, supervised: spawned as the leader of a new session (so its
 * process group holds everything it starts), its output masked, capped and queued with
 * backpressure, its stdin fed with backpressure, its wall-clock limit enforced on the whole
 * group, and its end described as an `ExitInfo`. No transport knowledge: Exec, Run and the
 * legacy `POST /execute` all drive this.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { AgentError, errnoOf } from '../errors.js';
import { SecretMasker } from './mask.js';
import type { OomWatch, OomWindow } from './oom.js';
import { OutputQueue } from './output-queue.js';
import type { OutputChunk, StreamName } from './output-queue.js';
import { signalGroup, signalNumber } from './signals.js';
import type { CallerSignal } from './signals.js';

/** A validated, fully resolved request to start a process. */
export interface ProcessRequest {
  /** Program and arguments; the program is looked up in the PATH of `env`. */
  readonly argv: readonly [string, ...string[]];
  /** The complete environment of the process. */
  readonly env: Readonly<Record<string, string>>;
  /** Absolute working directory (already confined to the workspace). */
  readonly cwd: string;
  /** Wall-clock limit from spawn; 0 for none. */
  readonly timeoutMs: number;
  /** After the limit: SIGTERM to the group, then SIGKILL this much later (0: SIGKILL at once). */
  readonly killGraceMs: number;
  /** Keep stdin open for `writeStdin`; false: the process reads EOF at once. */
  readonly stdin: boolean;
  /** Bytes forwarded per stream; the rest is read and dropped. Undefined: no cap. */
  readonly maxOutputBytes?: number | undefined;
  /** Values replaced by `***` in stdout and stderr. */
  readonly secrets?: readonly string[] | undefined;
  /** Opens the process's OOM window before the spawn (see oom.ts). */
  readonly oomWatch?: OomWatch | undefined;
}

/** How a process ended (the transports map it onto their own shapes). */
export interface ExitInfo {
  /** 0–255; 128 + the signal number if a signal killed it. */
  readonly exitCode: number;
  /** Name of the signal that killed it ("SIGKILL"), or "" if it exited. */
  readonly signal: string;
  readonly timedOut: boolean;
  readonly oomKilled: boolean;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  readonly durationMs: number;
}

type EndReason = 'timeout' | 'cancelled';

export class ManagedProcess {
  /** Chunks of stdout and stderr in arrival order; ends when both pipes are closed. */
  readonly output: AsyncIterable<OutputChunk>;
  /** Resolves once the process has exited and both pipes are closed. */
  readonly exited: Promise<ExitInfo>;

  private endReason: EndReason | undefined;
  private callerKilled = false;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly truncated: Record<StreamName, boolean> = { stdout: false, stderr: false };

  /** Use `spawnProcess`. */
  constructor(
    private readonly child: ChildProcess & { pid: number },
    private readonly request: ProcessRequest,
    private readonly oomWindow?: OomWindow,
  ) {
    const startedAt = performance.now();
    const stdout = child.stdout as Readable;
    const stderr = child.stderr as Readable;
    const queue = new OutputQueue([stdout, stderr]);
    this.output = queue;
    this.forward('stdout', stdout, queue);
    this.forward('stderr', stderr, queue);
    child.stdin?.on('error', () => undefined); // EPIPE when the process stops reading: not our failure
    let exitedAt = startedAt;
    child.once('exit', () => (exitedAt = performance.now()));
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.closed = true;
        for (const timer of this.timers) clearTimeout(timer);
        resolve(this.describe(code, signal, exitedAt - startedAt));
      });
    });
    if (request.timeoutMs > 0) {
      this.timers.push(setTimeout(() => this.end('timeout'), request.timeoutMs));
    }
  }

  get pid(): number {
    return this.child.pid;
  }

  /**
   * Feeds bytes to stdin; resolves when the pipe has taken them (so a caller that awaits each
   * write never buffers more than one chunk), or at once if stdin is already gone. Never rejects:
   * resolves false when the bytes were not taken (stdin gone, or closed before it took them), so
   * a caller that answers for the bytes can say so.
   */
  async writeStdin(data: Uint8Array): Promise<boolean> {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return false;
    if (stdin.write(data)) return true;
    // `once` rejects on 'error' (EPIPE once the reader is gone): the bytes were not taken.
    return Promise.race([
      once(stdin, 'drain').then(() => true),
      once(stdin, 'close').then(() => false),
    ]).catch(() => false);
  }

  /** Closes stdin: the process reads EOF after what was written. */
  closeStdin(): void {
    this.child.stdin?.end();
  }

  /** Sends a caller's signal to the process group; ignored once the process is gone. */
  signal(name: CallerSignal): void {
    if (name === 'SIGKILL') this.callerKilled = true; // so not an OOM kill (oom.ts)
    if (!this.closed) signalGroup(this.child.pid, name);
  }

  /** Kills the whole group now (SIGKILL): the caller went away or the agent is shutting down. */
  kill(): void {
    this.endReason ??= 'cancelled';
    if (!this.closed) signalGroup(this.child.pid, 'SIGKILL');
  }

  private end(reason: EndReason): void {
    if (this.closed) return;
    this.endReason ??= reason;
    if (this.request.killGraceMs <= 0) {
      signalGroup(this.child.pid, 'SIGKILL');
      return;
    }
    signalGroup(this.child.pid, 'SIGTERM');
    // The leader may exit on SIGTERM while children that ignore it hold the pipes: the SIGKILL
    // still goes to the group until the pipes close.
    this.timers.push(
      setTimeout(() => this.closed || signalGroup(this.child.pid, 'SIGKILL'), this.request.killGraceMs),
    );
  }

  /** Masks and caps one pipe's chunks into the queue. */
  private forward(name: StreamName, source: Readable, queue: OutputQueue): void {
    const masker = new SecretMasker(this.request.secrets ?? []);
    const cap = this.request.maxOutputBytes;
    let sent = 0;
    const emit = (data: Buffer): void => {
      if (cap === undefined) {
        queue.push(name, data);
        return;
      }
      const room = cap - sent;
      if (data.length > room) this.truncated[name] = true;
      if (room <= 0) return;
      const part = data.length > room ? data.subarray(0, room) : data;
      sent += part.length;
      queue.push(name, part);
    };
    source.on('data', (chunk: Buffer) => emit(masker.active ? masker.push(chunk) : chunk));
    source.once('end', () => {
      if (masker.active) emit(masker.flush());
      queue.end();
    });
    source.once('error', () => queue.end());
  }

  private async describe(
    code: number | null,
    signal: NodeJS.Signals | null,
    durationMs: number,
  ): Promise<ExitInfo> {
    // A rejection here would leave `exited` pending for ever: failing to tell is false.
    const oomKilled =
      (await this.oomWindow
        ?.close({ signal, killedByAgent: this.endReason !== undefined || this.callerKilled })
        .catch(() => false)) ?? false;
    return {
      exitCode: signal ? 128 + (signalNumber(signal) ?? 0) : (code ?? 0),
      signal: signal ?? '',
      timedOut: this.endReason === 'timeout',
      oomKilled,
      stdoutTruncated: this.truncated.stdout,
      stderrTruncated: this.truncated.stderr,
      durationMs: Math.round(durationMs),
    };
  }
}

/**
 * Starts a process. Rejects with `not_found` if the program does not exist, `permission_denied`
 * if it is not executable, `invalid_argument` for an argument list the kernel refuses.
 */
export async function spawnProcess(request: ProcessRequest): Promise<ManagedProcess> {
  const [program, ...args] = request.argv;
  // Before the spawn: an OOM kill of this process always lands after the baseline.
  const oomWindow = request.oomWatch?.open();
  const child = spawn(program, args, {
    cwd: request.cwd,
    env: request.env,
    detached: true, // setsid(): the process leads a new session and process group
    stdio: [request.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    const [error] = (await once(child, 'error')) as [unknown];
    throw spawnError(error, program);
  }
  child.on('error', () => undefined); // later errors (a failed kill) surface through 'close'
  return new ManagedProcess(child as ChildProcess & { pid: number }, request, oomWindow);
}

/** The error for a program that could not be started (also used by pty.ts). */
export function spawnError(error: unknown, program: string): AgentError {
  const errno = errnoOf(error);
  if (errno === 'ENOENT') {
    return new AgentError('not_found', `executable '${program}' not found (looked up in PATH)`, {
      cause: error,
    });
  }
  if (errno === 'EACCES') {
    return new AgentError('permission_denied', `'${program}' is not executable (permission denied)`, {
      cause: error,
    });
  }
  return AgentError.from(error, program);
}
