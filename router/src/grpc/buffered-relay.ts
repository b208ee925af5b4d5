/**
 * The passthrough's one buffered call: a relayed `Run` holds the agent's whole reply in the router
 * until it is handed to the caller, so it draws on the same budget of buffered output as
 * `POST …/exec` (429 there, RESOURCE_EXHAUSTED here) and asks for no more per stream than the
 * hard maximum. Other unary calls pass as they are (their replies are bounded by the channel's
 * receive limit, see agent/pool.ts).
 */
import { ExecServiceDefinition } from '@sandbank/proto';
import type { OutputBudget } from '../admission/output-budget.js';
import { RouterError } from '../errors.js';
import { DEFAULT_BUFFERED_OUTPUT_BYTES, MAX_BUFFERED_OUTPUT_BYTES, bufferedRunBytes } from '../exec-spec.js';

const RUN = ExecServiceDefinition.run;

/** The per-stream cap a raw RunRequest asks for (the agent's default when it names none). */
export function runCap(request: Buffer): number {
  let asked: bigint | undefined;
  try {
    asked = RUN.requestDeserialize(request).maxOutputBytes;
  } catch {
    throw new RouterError('invalid_argument', 'request: not a sandbank.agent.v1.RunRequest');
  }
  if (asked === undefined) return DEFAULT_BUFFERED_OUTPUT_BYTES;
  if (asked > BigInt(MAX_BUFFERED_OUTPUT_BYTES)) {
    throw new RouterError(
      'invalid_argument',
      `max_output_bytes: at most ${MAX_BUFFERED_OUTPUT_BYTES} bytes per stream are buffered; stream larger output with Exec`,
    );
  }
  return Number(asked);
}

/** Relays one unary call, within the budget when it is a `Run`. */
export async function relayUnary(
  budget: OutputBudget,
  path: string,
  request: Buffer,
  relay: () => Promise<Buffer>,
): Promise<Buffer> {
  if (path !== RUN.path) return relay();
  const reservation = budget.reserve(bufferedRunBytes(runCap(request)));
  try {
    return await relay();
  } finally {
    reservation.release();
  }
}
