/**
 * Processes on a pseudo-terminal (Exec with `tty`).
 *
 * How: the agent spawns a small relay (pty-relay.ts) in Python, which opens the terminal pair,
 * forks the program onto it and relays bytes between the terminal and the agent's pipes (framed
 * input: keystrokes and resizes; raw output; a one-line start report on fd 3).
 * Why this and not the alternatives (checked against the runtime image, Debian bookworm):
 *
 * - node-pty (a native addon) needs a C++ toolchain at `npm install` time, or a prebuilt binary
 *   for Node 24 downloaded from GitHub releases, which the image build cannot reach; it would
 *   also be the agent's only native code (the agent ships as one bundled .mjs).
 * - Node alone cannot do it: unlocking a pty (TIOCSPTLCK), making it a controlling terminal
 *   (TIOCSCTTY) and resizing it (TIOCSWINSZ) are ioctls Node does not expose; and libuv writes
 *   to a terminal descriptor blocking, so a program that stops reading its input could freeze
 *   the agent's event loop. With the relay, the agent only ever talks to pipes, which Node
 *   handles non-blocking with backpressure, exactly as for plain exec.
 * - `script(1)` (util-linux) allocates a pty but takes the window size only from its own
 *   terminal, so it cannot be resized from a pipe.
 * - A static C helper would need a compiler stage in the image build for ~150 lines.
 * - python3 is already in the runtime image (the legacy runtime's language, Dockerfile), and
 *   its standard library has every call needed. Costs: one extra process per terminal (≈10 MB
 *   peak RSS) and Python's start before `started` (`-I -S`, relay to exit: 20-30 ms measured on
 *   a busy 2-core host); bytes cross one more pipe. `-I` keeps the caller's PYTHON* variables
 *   from changing the relay; the interpreter is found in fixed places, never in the caller's
 *   PATH. An image without python3 answers tty with UNIMPLEMENTED, as the proto allows.
 *
 * What the program gets is what plain exec gives (process.ts): the request's argv, env and cwd,
 * the agent's uid and capabilities, no descriptor but 0-2 (the relay closes every other one
 * before exec, so none of the agent's sockets can leak), every signal at its default. The
 * differences are the terminal itself: it is the session's controlling terminal and its
 * foreground process group is the program's, so 0x03 on stdin interrupts it through the line
 * discipline; stdout and stderr are one stream (sent as stdout); a resize sends SIGWINCH.
 *
 * Process group: the relay leads the session and the group; the program and its children share
 * the group. `pid` (and ExecStarted.pid) is therefore the relay's: it is the process group id
 * every signal, timeout and kill goes to, and the relay ignores the catchable ones, so they
 * reach the program alone; SIGKILL ends both. The relay exits as the program did (code, or the
 * same signal) once the program has exited and its output is forwarded.
 *
 * Where this differs from plain exec, and why:
 * - The call ends when the program exits, not when the last holder of the output closes it:
 *   gVisor's pty master never reports that hang-up (a read just blocks). The relay leads the
 *   session, so its exit hangs the terminal up and background jobs get SIGHUP, as when a
 *   terminal window closes; a job that ignores SIGHUP keeps running (as for `setsid` children
 *   of plain exec, gVisor still bounds it).
 * - close_stdin sends nothing: a terminal has no end of input (0x04 is one in canonical mode).
 * - Interactive shells move jobs to process groups of their own, which signal frames and
 *   timeouts (sent to the relay's group) do not reach directly; the line discipline does
 *   (0x03), and the hang-up at the end does.
 * - gVisor releases before resize signals (such as Debian's 2022 runsc) neither send SIGWINCH
 *   on TIOCSWINSZ nor act on ISIG characters; the relay detects this at start and then sends
 *   both signals itself (pty-relay.ts), so the program sees the same thing on every kernel.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { once } from 'node:events';
import { constants as osConstants } from 'node:os';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { AgentError } from '../errors.js';
import { ManagedProcess, spawnError } from './process.js';
import type { ProcessRequest } from './process.js';
import { RELAY_SOURCE } from './pty-relay.js';

/**
 * Largest rows and cols accepted. The kernel's limit is 65535 (unsigned short); a program in
 * the sandbox may allocate rows × cols cells for its screen, so the agent keeps far below that:
 * 10,000 is well beyond any real display.
 */
export const MAX_TERMINAL_CELLS_PER_SIDE = 10_000;

const side = (name: string) =>
  z
    .number({ error: `${name} must be a number` })
    .int(`${name} must be an integer`)
    .min(1, `${name} must be at least 1`)
    .max(MAX_TERMINAL_CELLS_PER_SIDE, `${name} must be at most ${MAX_TERMINAL_CELLS_PER_SIDE}`);

/** A terminal size in character cells. */
export interface TerminalSize {
  readonly rows: number;
  readonly cols: number;
}

/**
 * Validates a caller's size; `field` names it in errors (`tty`, `resize`). Zero is refused
 * rather than meaning "unknown": a program told it has 0 columns divides by it.
 */
export function terminalSizeOf(field: string, input: unknown): TerminalSize {
  const schema = z.object({ rows: side(`${field}.rows`), cols: side(`${field}.cols`) });
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AgentError('invalid_argument', issue?.message ?? `${field} is not a terminal size`);
  }
  return parsed.data;
}

/** How long the relay may take to report the program started (Python's start under gVisor included). */
const RELAY_START_LIMIT_MS = 30_000;

/** Frame kinds of the relay's input (pty-relay.ts). */
const ENVIRONMENT = 0x65; // 'e', once, first
const DATA = 0x64; // 'd'
const RESIZE = 0x72; // 'r'
/** Stdin bytes per frame: one relay read holds whole frames, so its memory stays bounded. */
const MAX_FRAME_BYTES = 32 * 1024;

function frame(kind: number, body: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head[0] = kind;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** A ManagedProcess whose stdin is the relay's framed input: keystrokes and resizes, in order. */
export class PtyProcess extends ManagedProcess {
  private inputOpen = true;

  /**
   * Feeds bytes to the terminal as typed (0x03 is Ctrl-C); resolves when the pipe took them (true)
   * or once it is gone or input was closed (false), as ManagedProcess's does.
   */
  override async writeStdin(data: Uint8Array): Promise<boolean> {
    if (!this.inputOpen) return false;
    for (let at = 0; at < data.length; at += MAX_FRAME_BYTES) {
      if (!(await super.writeStdin(frame(DATA, data.subarray(at, at + MAX_FRAME_BYTES))))) return false;
    }
    return true;
  }

  /**
   * Stops forwarding stdin. A terminal has no end of input to send: the program sees nothing
   * (send 0x04 for an end of file in canonical mode). The pipe stays open for resizes.
   */
  override closeStdin(): void {
    this.inputOpen = false;
  }

  /** Resizes the terminal; the program's foreground group gets SIGWINCH. */
  async resize(size: TerminalSize): Promise<void> {
    const body = Buffer.alloc(4);
    body.writeUInt16BE(size.rows, 0);
    body.writeUInt16BE(size.cols, 2);
    await super.writeStdin(frame(RESIZE, body));
  }
}

let python: string | null | undefined;

/** The interpreter for the relay, looked up once in fixed places (never in a caller's PATH). */
function pythonPath(): string {
  if (python === undefined) {
    python = null;
    for (const candidate of ['/usr/bin/python3', '/usr/local/bin/python3']) {
      try {
        accessSync(candidate, fsConstants.X_OK);
        python = candidate;
        break;
      } catch {
        // next
      }
    }
  }
  if (python === null) {
    throw new AgentError('unimplemented', 'tty needs python3 in the runtime image; run without tty');
  }
  return python;
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** Reads the relay's one-line report (fd 3) up to its end. */
async function reportOf(stream: Readable): Promise<string> {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    if (text.length < 4096) text += chunk;
  });
  await once(stream, 'end').catch(() => undefined);
  return text.trim();
}

/**
 * Starts `request` on a new terminal of `size`. Resolves once the program has been exec'd;
 * rejects as `spawnProcess` does for a program that is missing or not executable.
 */
export async function spawnPtyProcess(request: ProcessRequest, size: TerminalSize): Promise<PtyProcess> {
  // Before the spawn, as for plain exec: the program is the relay's child, in its cgroup.
  const oomWindow = request.oomWatch?.open();
  const child = spawn(
    pythonPath(),
    ['-I', '-S', '-c', RELAY_SOURCE, String(size.rows), String(size.cols), ...request.argv],
    {
      cwd: request.cwd,
      env: {}, // the program's comes as the first input frame (pty-relay.ts says why)
      detached: true, // setsid(): the relay leads a new session, whose terminal it then opens
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    },
  );
  if (child.pid === undefined) {
    const [error] = (await once(child, 'error')) as [unknown];
    throw spawnError(error, 'python3');
  }
  child.on('error', () => undefined);
  // Names and values have no NUL and names no '=' (the runner checked).
  const environment = Object.entries(request.env).map(([name, value]) => `${name}=${value}\0`);
  child.stdin?.write(frame(ENVIRONMENT, Buffer.from(environment.join(''))));
  const report = reportOf(child.stdio[3] as Readable);
  const proc = new PtyProcess(
    child as ChildProcess & { pid: number },
    { ...request, stdin: true },
    oomWindow,
  );
  // The relay reports within milliseconds; one that does not (stopped by code in the sandbox,
  // which runs as the same user) must not hold a process slot for ever.
  const limit = setTimeout(() => proc.kill(), RELAY_START_LIMIT_MS);
  const line = await report.finally(() => clearTimeout(limit));
  if (line === 'ok') return proc;
  await proc.exited; // the relay exits on its own after a failed exec
  const program = request.argv[0];
  const errno = /^errno (\d+)$/.exec(line)?.[1];
  if (errno !== undefined) {
    const code = ERRNO_NAMES.get(Number(errno)) ?? 'EIO';
    throw spawnError(Object.assign(new Error(`exec ${program}: ${code}`), { code }), program);
  }
  throw new AgentError('internal', 'the terminal relay failed to start (see the agent log)', {
    cause: new Error(`pty relay: ${line || 'no report'}`),
  });
}
