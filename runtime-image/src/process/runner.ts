/**
 * The agent's process table: validates what callers ask to run, builds each process's
 * environment (and terminal), enforces the concurrency cap, and kills everything on shutdown.
 * Exec, Run, ProcessService and the legacy REST API start every process through one runner, so
 * they share one cap and one way of setting a process up.
 */
import { AgentError } from '../errors.js';
import type { OomWatch } from './oom.js';
import { spawnProcess } from './process.js';
import type { ManagedProcess, ProcessRequest } from './process.js';
import { spawnPtyProcess, terminalSizeOf } from './pty.js';
import type { TerminalSize } from './pty.js';

/** What a terminal program expects when the caller names no TERM. */
const DEFAULT_TERM = 'xterm-256color';

export interface RunnerLimits {
  /** Processes alive at once (Exec, Run and REST together); one more is `resource_exhausted`. */
  readonly maxProcesses: number;
  /** Wall-clock limit when the caller gives none. */
  readonly defaultTimeoutMs: number;
  /** Grace between SIGTERM and SIGKILL when a limit passes. */
  readonly killGraceMs: number;
}

/** What a caller asks to run, before validation. */
export interface ProcessInput {
  /** Exactly one of `argv` (no shell) and `shell` (`/bin/sh -c`). */
  readonly argv?: readonly string[] | undefined;
  readonly shell?: string | undefined;
  readonly env?: Readonly<Record<string, string>> | undefined;
  readonly secretEnv?: Readonly<Record<string, string>> | undefined;
  /** Absolute, already confined working directory. */
  readonly cwd: string;
  /** Undefined: the runner's default; 0: no limit. */
  readonly timeoutMs?: number | undefined;
  readonly stdin: boolean;
  readonly maxOutputBytes?: number | undefined;
  /**
   * Set: run on a pseudo-terminal of this size (pty.ts), as the caller sent it: `start` validates
   * it (errors name `tty`) and sets TERM, so every caller gets exactly the same terminal.
   */
  readonly tty?: TerminalSize | undefined;
}

/** A ProcessInput that passed `ProcessRunner.validate`, with what validation derived from it. */
export interface ValidProcessInput {
  readonly input: ProcessInput;
  readonly argv: [string, ...string[]];
  readonly env: Readonly<Record<string, string>>;
  readonly tty: TerminalSize | undefined;
}

export class ProcessRunner {
  private readonly live = new Set<ManagedProcess>();
  private reserved = 0;
  private draining = false;

  constructor(
    readonly limits: RunnerLimits,
    /** The environment every process starts from (the agent's own settings already removed). */
    private readonly baseEnv: Readonly<Record<string, string>>,
    private readonly oomWatch?: OomWatch,
  ) {}

  /** Processes alive now. */
  get size(): number {
    return this.live.size;
  }

  /**
   * Validates `input` and starts it; see `spawnProcess` for spawn failures. A bad terminal size,
   * command or environment starts nothing.
   */
  start(input: ProcessInput): Promise<ManagedProcess> {
    return this.launch(this.validate(input));
  }

  /**
   * Checks the terminal size, command and environment of `input` without starting anything, for
   * callers that must refuse a bad request before they commit resources of their own to it.
   */
  validate(input: ProcessInput): ValidProcessInput {
    const tty = input.tty === undefined ? undefined : terminalSizeOf('tty', input.tty);
    const argv = commandOf(input);
    const env = this.environmentOf(tty ? { ...input, env: terminalEnv(input) } : input);
    return { input, argv, env, tty };
  }

  /** Starts what `validate` accepted; refused only for the cap, a shutdown or a spawn failure. */
  async launch({ input, argv, env, tty }: ValidProcessInput): Promise<ManagedProcess> {
    if (this.draining)
      throw new AgentError('unavailable', 'the agent is shutting down; retry on another sandbox');
    if (this.live.size + this.reserved >= this.limits.maxProcesses) {
      throw new AgentError(
        'resource_exhausted',
        `too many processes: ${this.limits.maxProcesses} are already running; wait for one to exit`,
      );
    }
    this.reserved++;
    let proc: ManagedProcess;
    try {
      const request: ProcessRequest = {
        argv,
        env,
        cwd: input.cwd,
        timeoutMs: input.timeoutMs ?? this.limits.defaultTimeoutMs,
        killGraceMs: this.limits.killGraceMs,
        stdin: input.stdin,
        maxOutputBytes: input.maxOutputBytes,
        secrets: Object.values(input.secretEnv ?? {}),
        oomWatch: this.oomWatch,
      };
      proc = tty ? await spawnPtyProcess(request, tty) : await spawnProcess(request);
    } finally {
      this.reserved--;
    }
    this.live.add(proc);
    const forget = (): void => {
      this.live.delete(proc);
    };
    proc.exited.then(forget, forget);
    return proc;
  }

  /** Refuses new processes from now on and kills every live process group. */
  killAll(): void {
    this.draining = true;
    for (const proc of this.live) proc.kill();
  }

  private environmentOf(input: ProcessInput): Record<string, string> {
    const env: Record<string, string> = { ...this.baseEnv };
    for (const [field, vars] of [
      ['env', input.env],
      ['secret_env', input.secretEnv],
    ] as const) {
      for (const [name, value] of Object.entries(vars ?? {})) {
        if (name === '' || name.includes('=') || name.includes('\0')) {
          throw new AgentError(
            'invalid_argument',
            `${field}: name '${name}' must be non-empty and contain neither '=' nor NUL`,
          );
        }
        if (value.includes('\0'))
          throw new AgentError('invalid_argument', `${field}.${name}: value contains a NUL byte`);
        if (field === 'secret_env' && input.env && Object.hasOwn(input.env, name)) {
          throw new AgentError('invalid_argument', `'${name}' is in both env and secret_env; name it in one`);
        }
        env[name] = value;
      }
    }
    return env;
  }
}

/**
 * The environment of a process on a terminal: `env` plus TERM=xterm-256color, unless the caller
 * named TERM in env or secret_env.
 */
function terminalEnv(input: ProcessInput): Readonly<Record<string, string>> | undefined {
  const named = (map: Readonly<Record<string, string>> | undefined): boolean =>
    map !== undefined && Object.hasOwn(map, 'TERM');
  return named(input.env) || named(input.secretEnv) ? input.env : { ...input.env, TERM: DEFAULT_TERM };
}

/** The argument vector `input` asks for (a shell line as `/bin/sh -c <line>`), validated. */
export function commandOf(input: Pick<ProcessInput, 'argv' | 'shell'>): [string, ...string[]] {
  if (input.argv !== undefined && input.shell !== undefined) {
    throw new AgentError('invalid_argument', 'command: set either argv or shell, not both');
  }
  if (input.shell !== undefined) {
    if (input.shell.trim() === '') throw new AgentError('invalid_argument', 'command.shell is empty');
    if (input.shell.includes('\0'))
      throw new AgentError('invalid_argument', 'command.shell contains a NUL byte');
    return ['/bin/sh', '-c', input.shell];
  }
  if (input.argv === undefined)
    throw new AgentError('invalid_argument', 'command is required: set argv or shell');
  const [program, ...args] = input.argv;
  if (program === undefined || program === '') {
    throw new AgentError('invalid_argument', 'command.argv is empty: its first element names the program');
  }
  if (input.argv.some((a) => a.includes('\0'))) {
    throw new AgentError('invalid_argument', 'command.argv: an argument contains a NUL byte');
  }
  return [program, ...args];
}
