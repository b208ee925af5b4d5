/**
 * ExecService.Exec: one process streamed both ways over a bidi call.
 *
 * Client frames drive a small state machine (awaiting start → starting → running); server
 * frames are `started`, then the process's output as it comes, then `exit`. Output is pulled
 * from the process's queue only as fast as the call takes it: when `write` reports a full
 * buffer the pump waits for `drain`, the queue fills, the pipes pause and the process blocks.
 * Stdin is pushed with the same discipline the other way (the call is paused while the pipe
 * is full). Cancellation, a passed deadline or a protocol error kills the process group.
 *
 * With `tty` the process runs on a pseudo-terminal (process/pty.ts: why a Python relay, and what
 * differs from pipes): one output stream, sent as stdout; stdin frames are keystrokes, passed
 * byte for byte; `resize` frames reach the terminal in order with them. `TERM` is the request's,
 * else xterm-256color.
 */
import type { ExecRequest, ExecServiceHandlers, ExecStart } from '@sandbank/proto';
import { AgentError } from '../errors.js';
import type { ManagedProcess } from '../process/process.js';
import { PtyProcess, terminalSizeOf } from '../process/pty.js';
import type { TerminalSize } from '../process/pty.js';
import { callerSignalOf } from '../process/signals.js';
import type { AgentDeps } from '../deps.js';
import { byteCap, exitStatusOf, processInputOf } from './process-spec.js';
import { drained, toStatus } from './status.js';

type ExecCall = Parameters<ExecServiceHandlers['exec']>[0];

export function execHandler(deps: AgentDeps): ExecServiceHandlers['exec'] {
  return (call) => new ExecSession(call, deps).listen();
}

class ExecSession {
  private state: 'awaiting-start' | 'starting' | 'running' = 'awaiting-start';
  private proc: ManagedProcess | undefined;
  private stdinOpen = false;
  private halfClosed = false;
  /** Set once the call's outcome is decided: nothing more is written. */
  private finished = false;

  constructor(
    private readonly call: ExecCall,
    private readonly deps: AgentDeps,
  ) {}

  listen(): void {
    this.call.on('data', (frame: ExecRequest) => this.onFrame(frame));
    this.call.on('end', () => this.onHalfClose());
    this.call.on('cancelled', () => this.onCancelled());
  }

  private onFrame(frame: ExecRequest): void {
    if (this.finished) return;
    const f = frame.frame;
    if (this.state === 'awaiting-start') {
      if (f.case !== 'start') {
        this.fail(new AgentError('invalid_argument', 'the first frame must be start'));
        return;
      }
      this.state = 'starting';
      this.call.pause(); // later frames wait until the process exists
      this.start(f.value).then(
        () => this.call.resume(),
        (error: unknown) => this.fail(error),
      );
      return;
    }
    switch (f.case) {
      case 'stdin':
        this.writeStdin(f.value);
        return;
      case 'closeStdin':
        this.stdinOpen = false;
        this.proc?.closeStdin();
        return;
      case 'signal':
        try {
          this.proc?.signal(callerSignalOf(f.value));
        } catch (error) {
          this.fail(error);
        }
        return;
      case 'resize':
        this.resize(f.value);
        return;
      case 'start':
        this.fail(new AgentError('invalid_argument', 'start is only valid as the first frame'));
        return;
      case undefined:
        this.fail(
          new AgentError('invalid_argument', 'empty frame: set start, stdin, close_stdin, signal or resize'),
        );
        return;
    }
  }

  private async start(start: ExecStart): Promise<void> {
    const input = await processInputOf(start.process, this.deps.workspace);
    const proc = await this.deps.runner.start({
      ...input,
      stdin: start.stdin,
      maxOutputBytes: byteCap(start.maxOutputBytes),
      tty: start.tty, // validated, with TERM, by the runner
    });
    this.proc = proc;
    this.stdinOpen = start.stdin;
    this.state = 'running';
    if (this.finished) {
      proc.kill(); // the caller left while we were spawning
    } else {
      this.call.write({ event: { case: 'started', value: { pid: proc.pid } } });
      if (this.halfClosed) proc.closeStdin();
    }
    this.pump(proc).catch((error: unknown) => this.fail(error));
  }

  /** Forwards output with backpressure, then the exit frame; always drains the process. */
  private async pump(proc: ManagedProcess): Promise<void> {
    try {
      for await (const chunk of proc.output) {
        if (this.finished) continue; // keep reading so the pipes close and the process is reaped
        const ok = this.call.write({ event: { case: chunk.stream, value: chunk.data } });
        if (!ok) await drained(this.call);
      }
      const exit = await proc.exited;
      this.deps.logger.debug({ pid: proc.pid, exit }, 'exec ended');
      if (this.finished) return;
      this.finished = true;
      this.call.write({ event: { case: 'exit', value: exitStatusOf(exit) } });
      this.call.end();
    } catch (error) {
      this.fail(error);
    }
  }

  private writeStdin(data: Uint8Array): void {
    if (!this.stdinOpen) {
      const why =
        this.proc && this.halfClosed ? 'stdin is already closed' : 'stdin is closed or was not requested';
      this.fail(
        new AgentError(
          'failed_precondition',
          `${why}; set ExecStart.stdin and send stdin before close_stdin`,
        ),
      );
      return;
    }
    const proc = this.proc;
    if (!proc) return;
    // Stop reading frames until the pipe has taken this chunk: a fast sender cannot make the
    // agent buffer more than one frame per call.
    this.call.pause();
    proc.writeStdin(data).then(
      () => this.call.resume(),
      (error: unknown) => this.fail(error),
    );
  }

  private resize(value: unknown): void {
    const proc = this.proc;
    if (!(proc instanceof PtyProcess)) {
      this.fail(new AgentError('failed_precondition', 'resize needs a tty, and this call has none'));
      return;
    }
    let size: TerminalSize;
    try {
      size = terminalSizeOf('resize', value);
    } catch (error) {
      this.fail(error);
      return;
    }
    // As for stdin: no further frame is read until the relay's pipe has taken this one, so a
    // resize and the keystrokes around it reach the terminal in the order they were sent.
    this.call.pause();
    proc.resize(size).then(
      () => this.call.resume(),
      (error: unknown) => this.fail(error),
    );
  }

  private onHalfClose(): void {
    this.halfClosed = true;
    if (this.state === 'awaiting-start') {
      this.fail(new AgentError('invalid_argument', 'the request stream ended before a start frame'));
      return;
    }
    if (this.stdinOpen) {
      this.stdinOpen = false;
      this.proc?.closeStdin();
    }
  }

  private onCancelled(): void {
    this.finished = true;
    this.proc?.kill();
  }

  private fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.proc?.kill();
    this.call.emit('error', toStatus(error, this.deps.logger));
  }
}
