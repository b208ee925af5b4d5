/** gRPC status from the agent → the router's error codes (the agent's message is kept). */
import { status as GrpcStatus } from '@grpc/grpc-js';
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
 * An error of an agent call as a RouterError. UNAUTHENTICATED from the agent means the router
 * holds the wrong agent token: an operator's problem, not the caller's, so it is upstream_failed.
 */
export function fromAgentError(error: unknown): RouterError {
  if (error instanceof RouterError) return error;
  if (!isServiceError(error)) return RouterError.from(error);
  const code = BY_STATUS[error.code] ?? 'upstream_failed';
  const details = error.details;
  const message =
    error.code === GrpcStatus.DEADLINE_EXCEEDED
      ? 'the request did not finish within its timeout (X-Sandbox-Timeout, capped by the router)'
      : error.code === GrpcStatus.UNAUTHENTICATED
        ? 'the sandbox agent refused the router (agent token mismatch); tell the operator'
        : code === 'upstream_failed'
          ? `the sandbox agent failed: ${details}`
          : `sandbox: ${details}`;
  return new RouterError(code, message, { cause: error });
}
