/**
 * The gRPC face of AgentError: its code table mapped onto gRPC status codes (exec.proto's
 * table), and the small helpers every handler needs to end a call.
 */
import { status } from '@grpc/grpc-js';
import type { StatusObject } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { AgentError } from '../errors.js';
import type { AgentErrorCode } from '../errors.js';

const GRPC_STATUS: Readonly<Record<AgentErrorCode, status>> = {
  invalid_argument: status.INVALID_ARGUMENT,
  permission_denied: status.PERMISSION_DENIED,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  cancelled: status.CANCELLED,
  unauthenticated: status.UNAUTHENTICATED,
  unimplemented: status.UNIMPLEMENTED,
  unavailable: status.UNAVAILABLE,
  internal: status.INTERNAL,
};

/** The status a call ends with for `error`; internal errors are logged with their cause. */
export function toStatus(
  error: unknown,
  logger: Logger,
  subject?: string,
): Partial<StatusObject> & { code: status; details: string } {
  const agentError = AgentError.from(error, subject);
  if (agentError.code === 'internal') logger.error({ err: agentError.cause ?? agentError }, 'internal error');
  return { code: GRPC_STATUS[agentError.code], details: agentError.message };
}

/** The parts of a server stream the drain wait needs. */
interface DrainableCall {
  readonly cancelled: boolean;
  once(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
}

/**
 * Resolves when a call whose write() returned false can take more, or can take nothing ever
 * again (cancelled, closed): a handler awaiting this never hangs on a client that left.
 */
export function drained(call: DrainableCall): Promise<void> {
  if (call.cancelled) return Promise.resolve();
  return new Promise((resolve) => {
    const events = ['drain', 'cancelled', 'close', 'finish', 'error'];
    const done = (): void => {
      for (const e of events) call.off(e, done);
      resolve();
    };
    for (const e of events) call.once(e, done);
  });
}
