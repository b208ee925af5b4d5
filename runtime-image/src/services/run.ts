/**
 * ExecService.Run: one process to completion, output buffered up to a cap per stream. The
 * whole response must fit the client's receive limit (4 MiB by default), so caps above
 * `MAX_RUN_OUTPUT_BYTES` are refused: larger output belongs on Exec, which streams.
 */
import type { ExecServiceHandlers } from '@sandbank/proto';
import type { AgentDeps } from '../deps.js';
import { AgentError } from '../errors.js';
import { runBuffered } from '../process/run-buffered.js';
import { byteCap, exitStatusOf, processInputOf } from './process-spec.js';
import { toStatus } from './status.js';

/** 64 MiB per stream: a unary response of 128 MiB is already far past what gRPC is for. */
export const MAX_RUN_OUTPUT_BYTES = 64 * 1024 * 1024;

export function runHandler(deps: AgentDeps): ExecServiceHandlers['run'] {
  return (call, callback) => {
    const abort = new AbortController();
    call.once('cancelled', () => abort.abort());
    void (async () => {
      const cap = byteCap(call.request.maxOutputBytes) ?? deps.runMaxOutputBytes;
      if (cap > MAX_RUN_OUTPUT_BYTES) {
        throw new AgentError(
          'invalid_argument',
          `max_output_bytes ${cap} is above the agent's limit of ${MAX_RUN_OUTPUT_BYTES}; use Exec to stream more`,
        );
      }
      const input = await processInputOf(call.request.process, deps.workspace);
      const result = await runBuffered(
        deps.runner,
        { ...input, maxOutputBytes: cap },
        call.request.stdin,
        abort.signal,
      );
      callback(null, { exit: exitStatusOf(result.exit), stdout: result.stdout, stderr: result.stderr });
    })().catch((error: unknown) => callback(toStatus(error, deps.logger)));
  };
}
