/**
 * Background processes: processes the agent owns rather than a call. Each is spawned through the
 * ProcessRunner (so the agent-wide cap, environment rules and shutdown kill apply), its output is
 * drained at once into an OutputRing (the process never waits for a reader), and it stays listed
 * after it exits until it is removed or evicted.
 *
 * Limits, each refused with `resource_exhausted`: processes running at once; processes retained
 * (running or finished; starting one more evicts the finished one that ended first); and the
 * memory of all rings together, a budget rings draw from as they grow (when it runs short,
 * finished processes are evicted, the one that ended first first; if none is left, rings stop
 * growing and drop their oldest bytes sooner).
 *
 * Transport-free, like the rest of process/: the gRPC face is services/processes.ts. A process on
 * a terminal plugs in through `Supervised` (one output stream, tagged stdout).
 */
import { randomBytes } from 'node:crypto';
import { AgentError } from '../errors.js';
import type { OutputChunk } from './output-queue.js';
import { INITIAL_RING_BYTES, OutputRing } from './output-ring.js';
import type { RingAllocator } from './output-ring.js';
import type { ExitInfo } from './process.js';
import type { TerminalSize } from './pty.js';
import type { CallerSignal } from './signals.js';

/** What the registry needs of a running process (ManagedProcess has it; a pty process can). */
export interface Supervised {
  readonly pid: number;
  /** Output in arrival order; ends when the process's output is closed. */
  readonly output: AsyncIterable<OutputChunk>;
  /** Resolves once the process has exited and its output is closed. */
  readonly exited: Promise<ExitInfo>;
  /** Resolves true once the pipe has taken `data`, false if it went away first; never rejects. */
  writeStdin(data: Uint8Array): Promise<boolean>;
  closeStdin(): void;
  signal(name: CallerSignal): void;
  /**
   * Present only for a process on a terminal: sets its size in cells. Shares the input path with
   * `writeStdin`, so it takes effect between the keystrokes written before and after it.
   */
  resize?(size: TerminalSize): Promise<void>;
}

export interface BackgroundLimits {
  /** Background processes running at once. */
  readonly maxRunning: number;
  /** Background processes kept, running or finished. At least `maxRunning`. */
  readonly maxRetained: number;
  /** Ring capacity per process. */
  readonly bufferBytes: number;
  /** Ring memory of all processes together. */
  readonly totalBufferBytes: number;
}

/** What to start: a display summary of the command, and how to spawn it. */
export interface BackgroundStart {
  readonly argv: readonly string[];
  readonly stdin: boolean;
  readonly spawn: () => Promise<Supervised>;
}

/**
 * Stdin bytes accepted but not yet taken by the pipe, per process: 8 MiB, two gRPC messages of
 * the default 4 MiB limit. A process that does not read its stdin cannot make the agent hold more.
 */
export const MAX_STDIN_BACKLOG_BYTES = 8 * 1024 * 1024;

/** Longest `command` summary, in characters. */
export const COMMAND_SUMMARY_CHARS = 256;

/** One retained background process. */
export class BackgroundProcess {
  readonly startedAt = new Date();
  private endedAtValue: Date | undefined;
  private exitValue: ExitInfo | undefined;
  private stdinIsOpen: boolean;
  /** Stdin writes in arrival order: each starts once the one before has been taken by the pipe. */
  private stdinChain: Promise<void> = Promise.resolve();
  private stdinBacklog = 0;
  /** Callers waiting in `waitDone`. */
  private readonly doneWaiters = new Set<() => void>();
  /** Resolves once the exit is recorded and all output is in the ring. */
  readonly done: Promise<void>;

  constructor(
    readonly id: string,
    readonly command: string,
    readonly proc: Supervised,
    readonly ring: OutputRing,
    stdin: boolean,
    onExit: (p: BackgroundProcess) => void,
  ) {
    this.stdinIsOpen = stdin;
    const end = (exit: ExitInfo): void => {
      this.exitValue = exit;
      this.endedAtValue = new Date();
      this.stdinIsOpen = false;
      this.ring.close();
      onExit(this);
      for (const wake of [...this.doneWaiters]) wake();
    };
    this.done = this.drain().then(
      end,
      // `output` and `exited` do not reject; if one ever did, the process must still end here.
      () => end(failedExit(this.startedAt)),
    );
  }

  get pid(): number {
    return this.proc.pid;
  }
  get exit(): ExitInfo | undefined {
    return this.exitValue;
  }
  get endedAt(): Date | undefined {
    return this.endedAtValue;
  }
  get running(): boolean {
    return this.exitValue === undefined;
  }
  get stdinOpen(): boolean {
    return this.stdinIsOpen;
  }
  /** Callers waiting in `waitDone` now. */
  get waiters(): number {
    return this.doneWaiters.size;
  }

  /**
   * Resolves once the process is done (see `done`), after `timeoutMs` (any size), or when
   * `signal` aborts, whichever is first. A wait that ends early leaves nothing behind.
   */
  waitDone(timeoutMs?: number, signal?: AbortSignal): Promise<void> {
    if (!this.running || timeoutMs === 0 || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
      const done = (): void => {
        clearTimeout(timer);
        this.doneWaiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      // setTimeout holds at most 2^31-1 ms; a longer wait re-arms until its deadline.
      const arm = (): void => {
        if (deadline === undefined) return;
        const left = deadline - Date.now();
        if (left <= 0) done();
        else timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      };
      this.doneWaiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
      arm();
    });
  }

  /**
   * Writes `data` to stdin (after earlier writes), then closes it if `close`. Resolves once the
   * pipe has taken the bytes. `failed_precondition` if stdin is not open.
   */
  writeStdin(data: Uint8Array, close: boolean): Promise<void> {
    if (!this.stdinIsOpen) {
      const why = this.running
        ? 'stdin is closed or was not requested (set stdin when starting the process)'
        : 'the process has exited';
      return Promise.reject(new AgentError('failed_precondition', `process '${this.id}': ${why}`));
    }
    if (this.stdinBacklog + data.length > MAX_STDIN_BACKLOG_BYTES) {
      return Promise.reject(
        new AgentError(
          'resource_exhausted',
          `process '${this.id}': ${this.stdinBacklog} bytes of stdin are still waiting for it to read them (at most ${MAX_STDIN_BACKLOG_BYTES}); retry once it has`,
        ),
      );
    }
    if (close) this.stdinIsOpen = false; // decided now, so a later call is refused in order
    this.stdinBacklog += data.length;
    const write = this.stdinChain
      .then(async () => {
        if (data.length > 0 && !(await this.proc.writeStdin(data))) {
          // An OK here would claim bytes that no process will ever read.
          throw new AgentError(
            'failed_precondition',
            `process '${this.id}': its stdin closed (it exited or closed it) before it read these ${data.length} bytes`,
          );
        }
        if (close) this.proc.closeStdin();
      })
      .finally(() => (this.stdinBacklog -= data.length));
    this.stdinChain = write.catch(() => undefined);
    return write;
  }

  signal(name: CallerSignal): void {
    if (this.running) this.proc.signal(name);
  }

  /**
   * Resizes the terminal after the stdin writes accepted before it (keystrokes typed before a
   * resize are read at the old size). `failed_precondition` without a terminal or once the
   * process has exited. Allowed with stdin closed: a resize is not input.
   */
  resize(size: TerminalSize): Promise<void> {
    const resize = this.proc.resize?.bind(this.proc);
    if (!resize) {
      return Promise.reject(
        new AgentError(
          'failed_precondition',
          `process '${this.id}' has no tty; start it with tty to resize it`,
        ),
      );
    }
    if (!this.running) {
      return Promise.reject(new AgentError('failed_precondition', `process '${this.id}' has exited`));
    }
    const done = this.stdinChain.then(() => resize(size));
    this.stdinChain = done.catch(() => undefined);
    return done;
  }

  private async drain(): Promise<ExitInfo> {
    for await (const chunk of this.proc.output) this.ring.write(chunk.stream, chunk.data);
    return this.proc.exited;
  }
}

export class BackgroundRegistry implements RingAllocator {
  /** Retained processes in start order (a Map iterates in insertion order). */
  private readonly processes = new Map<string, BackgroundProcess>();
  /** Finished processes in the order they ended: the eviction order. */
  private readonly finished = new Set<BackgroundProcess>();
  private runningCount = 0;
  private starting = 0;
  private bufferBytesUsed = 0;
  private sequence = 0;
  /** Random per agent start, so an id from before a restart never names a new process. */
  private readonly boot = randomBytes(4).toString('hex');

  constructor(readonly limits: BackgroundLimits) {
    if (limits.maxRetained < limits.maxRunning) throw new RangeError('maxRetained must be >= maxRunning');
  }

  /** Running background processes. */
  get running(): number {
    return this.runningCount;
  }

  /** Ring memory in use by all processes. */
  get bufferBytes(): number {
    return this.bufferBytesUsed;
  }

  /** Starts a process; see the module comment for the limits. */
  async start(request: BackgroundStart): Promise<BackgroundProcess> {
    if (this.runningCount + this.starting >= this.limits.maxRunning) {
      throw new AgentError(
        'resource_exhausted',
        `too many background processes: ${this.limits.maxRunning} are running; wait for one to exit or signal one`,
      );
    }
    while (this.processes.size + this.starting >= this.limits.maxRetained) {
      if (!this.evictOldestFinished()) {
        throw new AgentError(
          'resource_exhausted',
          `too many background processes retained: ${this.limits.maxRetained}; remove finished ones`,
        );
      }
    }
    const initial = Math.min(this.limits.bufferBytes, INITIAL_RING_BYTES);
    const granted = this.reserve(initial);
    if (granted < initial) {
      this.release(granted);
      throw new AgentError(
        'resource_exhausted',
        `background process output uses ${this.bufferBytesUsed} of the agent's ${this.limits.totalBufferBytes} bytes for it, and every retained process is running; wait for one to exit`,
      );
    }
    this.starting++;
    let proc: Supervised;
    try {
      proc = await request.spawn();
    } catch (error) {
      this.release(initial);
      throw error;
    } finally {
      this.starting--;
    }
    const id = `${this.boot}-${++this.sequence}`;
    const ring = new OutputRing(this.limits.bufferBytes, this, initial);
    this.runningCount++;
    const bp = new BackgroundProcess(id, summary(request.argv), proc, ring, request.stdin, (p) => {
      this.runningCount--;
      if (this.processes.get(p.id) === p) this.finished.add(p);
    });
    this.processes.set(id, bp);
    return bp;
  }

  /** Every retained process, oldest first. */
  list(): BackgroundProcess[] {
    return [...this.processes.values()];
  }

  /** The process `id`; `not_found` if it is not retained. */
  get(id: string): BackgroundProcess {
    const bp = this.processes.get(id);
    if (!bp) {
      throw new AgentError(
        'not_found',
        `no background process '${id}' (never started, removed, or evicted after it finished)`,
      );
    }
    return bp;
  }

  /** Forgets a finished process and frees its output; `failed_precondition` while it runs. */
  remove(id: string): void {
    const bp = this.get(id);
    if (bp.running) {
      throw new AgentError(
        'failed_precondition',
        `process '${id}' is still running; signal it and wait for it before removing it`,
      );
    }
    this.forget(bp);
  }

  /**
   * RingAllocator: grants up to `bytes` of ring memory, evicting finished processes (the one
   * that ended first first) when the budget is short; grants less if that is not enough.
   */
  reserve(bytes: number): number {
    while (this.bufferBytesUsed + bytes > this.limits.totalBufferBytes && this.evictOldestFinished()) {
      // evicted one; look again
    }
    const granted = Math.max(0, Math.min(bytes, this.limits.totalBufferBytes - this.bufferBytesUsed));
    this.bufferBytesUsed += granted;
    return granted;
  }

  release(bytes: number): void {
    this.bufferBytesUsed -= bytes;
  }

  private evictOldestFinished(): boolean {
    const oldest = this.finished.values().next();
    if (oldest.done) return false;
    this.forget(oldest.value);
    return true;
  }

  private forget(bp: BackgroundProcess): void {
    this.processes.delete(bp.id);
    this.finished.delete(bp);
    bp.ring.release();
  }
}

/** Longest delay setTimeout holds (2^31-1 ms); longer ones fire at once. */
const MAX_TIMER_MS = 0x7fff_ffff;

/** The argv joined with spaces, cut to COMMAND_SUMMARY_CHARS. */
function summary(argv: readonly string[]): string {
  const line = argv.join(' ');
  return line.length <= COMMAND_SUMMARY_CHARS ? line : `${line.slice(0, COMMAND_SUMMARY_CHARS - 1)}…`;
}

function failedExit(startedAt: Date): ExitInfo {
  return {
    exitCode: 255,
    signal: '',
    timedOut: false,
    oomKilled: false,
    stdoutTruncated: false,
    stderrTruncated: false,
    durationMs: Date.now() - startedAt.getTime(),
  };
}
