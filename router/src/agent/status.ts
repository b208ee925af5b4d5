/** gRPC status from the agent → the router's error codes (the agent's message is kept). */
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { isServiceError } from '@sandbank/proto';
import { RouterError } from '../errors.js';
import type { ErrorCode } from '../errors.js';

const BY_STATUS: Partial<Record<GrpcStatus, ErrorCode>> = {
  [GrpcStatus.INVALID_ARGUMENT]: 'invalid_argument',
  [GrpcStatus.PERMISSION_DENIED]: 'permission_denied',
  [GrpcStatus.NOT_FOUND]: 'not_found',
  [GrpcStatus.ALREADY_EXISTS]: 'already_exists',
  [GrpcStatus.FAILED_PRECONDITION]: 'failed_precondition',
  [GrpcStatus.OUT_OF_RANGE]: 'invalid_argument',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'resource_exhausted',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'deadline_exceeded',
  [GrpcStatus.CANCELLED]: 'canceled',
  [GrpcStatus.UNIMPLEMENTED]: 'unimplemented',
  [GrpcStatus.UNAVAILABLE]: 'upstream_unavailable',
};

/**
 * The failure of an agent call with a status a gRPC server can send, or undefined when `error`
 * did not come from a call. The agent is inside the sandbox and may send anything: grpc-js relays
 * whatever number a `grpc-status` trailer holds (`abc` is NaN, `99`), and fails some malformed
 * replies (a compressed frame without `grpc-encoding`) with no code at all. Those become UNKNOWN,
 * the agent's failure (upstream_failed), never a router bug (internal).
 */
export function agentCallError(error: unknown): ServiceError | undefined {
  if (!(error instanceof Error)) return undefined;
  const e = error as Partial<ServiceError>;
  const code: unknown = e.code;
  const valid = typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 16;
  if (valid && isServiceError(error)) return error;
  if (!(e.metadata instanceof Metadata)) return undefined;
  const details = `malformed reply from the sandbox agent (status ${String(e.code)}${e.details ? `: ${e.details}` : ''})`;
  return Object.assign(new Error(details, { cause: error }), {
    code: GrpcStatus.UNKNOWN,
    details,
    metadata: e.metadata,
  });
}

/**
 * An error of an agent call as a RouterError. UNAUTHENTICATED from the agent means the router
 * holds the wrong agent token: an operator's problem, not the caller's, so it is upstream_failed.
 */
export function fromAgentError(error: unknown): RouterError {
  if (error instanceof RouterError) return error;
  const call = agentCallError(error);
  if (call === undefined) return RouterError.from(error);
  const code = BY_STATUS[call.code] ?? 'upstream_failed';
  const details = call.details;
  const message =
    call.code === GrpcStatus.DEADLINE_EXCEEDED
      ? 'the request did not finish within its timeout (X-Sandbox-Timeout, capped by the router)'
      : call.code === GrpcStatus.UNAUTHENTICATED
        ? 'the sandbox agent refused the router (agent token mismatch); tell the operator'
        : code === 'upstream_failed'
          ? `the sandbox agent failed: ${details}`
          : `sandbox: ${details}`;
  return new RouterError(code, message, { cause: call });
}
