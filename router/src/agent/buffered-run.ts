/**
 * A buffered exec (the agent's unary `Run`) within the router's budget of buffered output: the
 * request's share is reserved before the process starts (429 when it does not fit), the reply is
 * cut to the cap it asked for whatever the agent sent, and the share shrinks to what is actually
 * held until the response is written and `release()` gives it back.
 */
import type { AgentPromiseClient, ExitStatus } from '@sandbank/proto';
import type { OutputBudget, OutputReservation } from '../admission/output-budget.js';
import type { Connection } from '../admission/admission.js';
import { BUFFERED_RUN_OVERHEAD_BYTES, bufferedRunBytes } from '../exec-spec.js';

/** What to run: the process and its stdin (the cap is runBuffered's). */
export interface BufferedRunRequest {
  readonly process: NonNullable<Parameters<AgentPromiseClient['run']>[0]['process']>;
  readonly stdin?: Uint8Array;
}

export interface BufferedOutput {
  readonly exit: ExitStatus | undefined;
  /** At most the cap; `exit.stdoutTruncated` says whether more was written. */
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  /** Gives the request's share of the budget back; call once the response is written (or failed). */
  readonly release: () => void;
}

/** Runs `request` with `capPerStream` bytes kept of each stream; throws output_budget_exhausted. */
export async function runBuffered(
  budget: OutputBudget,
  connection: Pick<Connection, 'agent' | 'options'>,
  request: BufferedRunRequest,
  capPerStream: number,
): Promise<BufferedOutput> {
  const reservation: OutputReservation = budget.reserve(bufferedRunBytes(capPerStream));
  try {
    const result = await connection.agent.run(
      {
        process: request.process,
        ...(request.stdin === undefined ? {} : { stdin: request.stdin }),
        maxOutputBytes: BigInt(capPerStream),
      },
      connection.options,
    );
    // An agent is inside the sandbox: what it sends past the cap is dropped, not trusted.
    const stdout = result.stdout.subarray(0, capPerStream);
    const stderr = result.stderr.subarray(0, capPerStream);
    const exit = result.exit && {
      ...result.exit,
      stdoutTruncated: result.exit.stdoutTruncated || stdout.length < result.stdout.length,
      stderrTruncated: result.exit.stderrTruncated || stderr.length < result.stderr.length,
    };
    // The reply's buffer is held until the response is written (the cut views keep it alive).
    reservation.resize(result.stdout.length + result.stderr.length + BUFFERED_RUN_OVERHEAD_BYTES);
    return { exit, stdout, stderr, release: reservation.release };
  } catch (error) {
    reservation.release();
    throw error;
  }
}
