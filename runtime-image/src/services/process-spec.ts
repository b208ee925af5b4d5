/**
 * ProcessSpec (proto) → ProcessInput (process layer): the command oneof, the environment maps,
 * the timeout, and the working directory confined to the workspace. Shared by Exec and Run.
 */
import { stat } from 'node:fs/promises';
import type { ExitStatus, ProcessSpec } from '@sandbank/proto';
import { AgentError } from '../errors.js';
import { fail } from '../fs/files.js';
import type { Workspace } from '../fs/workspace.js';
import type { ExitInfo } from '../process/process.js';
import type { ProcessInput } from '../process/runner.js';

/** Largest uint32: durations saturate here (exec.proto). */
const UINT32_MAX = 0xffff_ffff;

export async function processInputOf(
  spec: ProcessSpec | undefined,
  workspace: Workspace,
): Promise<Omit<ProcessInput, 'stdin' | 'maxOutputBytes'>> {
  if (!spec) throw new AgentError('invalid_argument', 'process is required');
  const command = spec.command;
  let argv: readonly string[] | undefined;
  let shell: string | undefined;
  switch (command.case) {
    case 'argv':
      argv = command.value.args;
      break;
    case 'shell':
      shell = command.value;
      break;
    case undefined:
      throw new AgentError('invalid_argument', 'process.command is required: set argv or shell');
  }
  return {
    argv,
    shell,
    env: spec.env,
    secretEnv: spec.secretEnv,
    cwd: await workingDirectory(workspace, spec.cwd),
    timeoutMs: spec.timeoutMs,
  };
}

/** Resolves `cwd` (empty: the root) to an existing directory inside the workspace. */
export async function workingDirectory(workspace: Workspace, cwd: string): Promise<string> {
  if (cwd === '' || cwd === '.') return workspace.root; // checked when the workspace was opened
  const dir = await workspace.resolve(cwd);
  const st = await stat(dir.abs).catch((error: unknown) => {
    const mapped = AgentError.from(error, dir.rel);
    if (mapped.code === 'not_found') throw new AgentError('not_found', `cwd '${dir.rel}' does not exist`);
    return fail(dir.rel)(error);
  });
  if (!st.isDirectory()) throw new AgentError('failed_precondition', `cwd '${dir.rel}' is not a directory`);
  return dir.abs;
}

/** A uint64 byte cap as a number (exact below 2^53; larger means "no cap" in practice). */
export function byteCap(value: bigint | undefined): number | undefined {
  if (value === undefined) return undefined;
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

/** ExitStatus fields (an init shape: protobuf-es adds the message type when serializing). */
export function exitStatusOf(exit: ExitInfo): Omit<ExitStatus, '$typeName' | '$unknown'> {
  return {
    exitCode: exit.exitCode,
    signal: exit.signal,
    timedOut: exit.timedOut,
    oomKilled: exit.oomKilled,
    stdoutTruncated: exit.stdoutTruncated,
    stderrTruncated: exit.stderrTruncated,
    durationMs: Math.min(exit.durationMs, UINT32_MAX),
  };
}
