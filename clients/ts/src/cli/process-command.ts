/**
 * `run` (claim, run, delete) and `exec` (in an existing claim): the command's output streamed to
 * stdout and stderr as it comes (awaiting each write, so a slow reader slows the sandbox), stdin
 * passed on with `-i`, a terminal with `-t`; the CLI exits with the command's code. The claim `run`
 * made is deleted on every way out, Ctrl-C included.
 */
import type { OutputChannel, SpawnedProcess, SpawnResult } from '../index.js';
import { Sandbox } from '../sandbox.js';
import { connectOptions, withClaim, type Context, type Outcome } from './context.js';
import { signalExit } from './failures.js';
import { write, type InputStream, type OutputStream } from './io.js';
import type { ClaimFrom, Connection, ProcessFlags } from './parse.js';
import { LocalTerminal, requireTerminal } from './terminal.js';

interface ProcessCommand {
  readonly connection: Connection;
  readonly json: boolean;
  readonly process: ProcessFlags;
}

export async function runCommand(
  command: ProcessCommand & { claim: ClaimFrom },
  context: Context,
): Promise<Outcome> {
  if (command.process.tty) requireTerminal(context.io);
  const { template, pool, readyTimeoutMs } = command.claim;
  const sandbox = await Sandbox.create({
    ...connectOptions(command.connection, context.interrupts.signal),
    ...(template === undefined ? {} : { template }),
    ...(pool === undefined ? {} : { pool }),
    ...(readyTimeoutMs === undefined ? {} : { timeoutMs: readyTimeoutMs }),
  });
  try {
    return await runIn(sandbox, command, context);
  } finally {
    await sandbox.close();
  }
}

export async function execCommand(
  command: ProcessCommand & { claim: string },
  context: Context,
): Promise<Outcome> {
  if (command.process.tty) requireTerminal(context.io);
  return withClaim(command.connection, command.claim, context, (sandbox) => runIn(sandbox, command, context));
}

async function runIn(sandbox: Sandbox, command: ProcessCommand, context: Context): Promise<Outcome> {
  const { io, interrupts } = context;
  const flags = command.process;
  const terminal = flags.tty ? LocalTerminal.open(io) : undefined;
  let stopFeeding: (() => void) | undefined;
  try {
    const proc = await sandbox.commands.spawn(flags.argv, {
      stdin: flags.stdin,
      env: flags.env,
      signal: interrupts.signal,
      ...(terminal ? { pty: terminal.size() } : {}),
      ...(flags.cwd === undefined ? {} : { cwd: flags.cwd }),
      ...(flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }),
    });
    // A resize or an interrupt racing the exit fails harmlessly: the exit (or its error) is what counts.
    terminal?.follow((size) => void proc.resize(size).catch(() => undefined));
    interrupts.forwardInterrupt(() => void proc.signal('SIGINT').catch(() => undefined));
    if (flags.stdin) stopFeeding = feedStdin(io.stdin, proc);
    try {
      if (!command.json) await Promise.all([pump(proc.stdout, io.stdout), pump(proc.stderr, io.stderr)]);
      return outcome(sandbox, await proc.wait(), command.json, context);
    } catch (error) {
      // Our side failed (stdout closed, an interrupt): end the session, the agent kills the process.
      proc.kill();
      throw error;
    }
  } finally {
    stopFeeding?.();
    interrupts.forwardInterrupt(undefined);
    terminal?.restore();
  }
}

async function pump(channel: OutputChannel, out: OutputStream): Promise<void> {
  for await (const chunk of channel) await write(out, chunk);
}

/** Passes stdin on, one chunk at a time (stdin pauses until the socket took it); EOF → `end()`. */
function feedStdin(stdin: InputStream, proc: SpawnedProcess): () => void {
  let stopped = false;
  const onData = (chunk: Buffer | string): void => {
    stdin.pause();
    proc.write(chunk).then(
      () => !stopped && stdin.resume(),
      () => stop(), // the process exited or the session broke: wait() reports which
    );
  };
  const onEnd = (): void => void proc.end().catch(() => undefined);
  const stop = (): void => {
    stopped = true;
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.pause();
  };
  stdin.on('data', onData);
  stdin.once('end', onEnd);
  stdin.resume();
  return stop;
}

function outcome(sandbox: Sandbox, result: SpawnResult, json: boolean, context: Context): Outcome {
  const exit = result.exitCode >= 0 ? result.exitCode : signalExit(result.signal);
  const note = result.timedOut
    ? 'the command ran past its --timeout and was killed'
    : result.oomKilled
      ? 'the sandbox ran out of memory and the command was killed'
      : undefined;
  if (note && !json) context.io.stderr.write(`sandbank: ${note}\n`);
  return {
    exit,
    text: undefined,
    json: {
      claim: sandbox.claimName,
      namespace: sandbox.namespace,
      exitCode: result.exitCode,
      signal: result.signal || null,
      timedOut: result.timedOut,
      oomKilled: result.oomKilled,
      truncated: result.truncated,
      durationMs: result.durationMs,
      stdout: Buffer.from(result.stdout).toString('utf8'),
      stderr: Buffer.from(result.stderr).toString('utf8'),
    },
  };
}
