/**
 * The agent's one error type. Every layer (paths, processes, gRPC, REST) throws `AgentError`
 * with a code from a closed table; the gRPC layer maps the code to a status
 * (`services/status.ts`) and the REST layer to its legacy shapes. This module knows neither
 * transport, so `fs/` and `process/` can use it without learning gRPC.
 */

/** The closed set of failure kinds, named after the gRPC codes of exec.proto's table. */
export const AGENT_ERROR_CODES = [
  'invalid_argument',
  'permission_denied',
  'not_found',
  'already_exists',
  'failed_precondition',
  'resource_exhausted',
  'deadline_exceeded',
  'cancelled',
  'unauthenticated',
  'unimplemented',
  'unavailable',
  'internal',
] as const;

export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[number];

/**
 * A failure with a code and a message for the caller. Messages name the offending field or
 * path (workspace-relative) and, where there is one, what to do instead. `cause` is for logs
 * only and never reaches a response.
 */
export class AgentError extends Error {
  override readonly name = 'AgentError';

  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /**
   * Turns anything thrown into an AgentError: AgentErrors pass through, Node system errors are
   * mapped by errno (with `subject`, usually a workspace path, in the message), aborts become
   * `cancelled`, and everything else is `internal` (a bug; the original stays in `cause`).
   */
  static from(error: unknown, subject?: string): AgentError {
    if (error instanceof AgentError) return error;
    if (error instanceof Error && error.name === 'AbortError') {
      return new AgentError('cancelled', 'the call was cancelled', { cause: error });
    }
    const errno = errnoOf(error);
    if (errno) {
      const mapped = ERRNO_TABLE[errno];
      if (mapped) {
        const what = subject === undefined ? '' : `'${subject}': `;
        return new AgentError(mapped[0], `${what}${mapped[1]}`, { cause: error });
      }
    }
    return new AgentError('internal', 'internal error in the agent (see its log)', { cause: error });
  }
}

/** The `code` of a Node system error (`ENOENT`, …), if `error` is one. */
export function errnoOf(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = error.code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  }
  return undefined;
}

/** errno → code and a message in the words of strerror(3), lower-cased. */
const ERRNO_TABLE: Readonly<Record<string, readonly [AgentErrorCode, string]>> = {
  ENOENT: ['not_found', 'no such file or directory'],
  EACCES: ['permission_denied', 'permission denied'],
  EPERM: ['permission_denied', 'operation not permitted'],
  EROFS: ['permission_denied', 'read-only file system'],
  EEXIST: ['already_exists', 'already exists'],
  ENOTDIR: ['failed_precondition', 'not a directory'],
  EISDIR: ['failed_precondition', 'is a directory'],
  ENOTEMPTY: ['failed_precondition', 'directory not empty; set recursive to delete its content'],
  EBUSY: ['failed_precondition', 'device or resource busy'],
  EXDEV: ['failed_precondition', 'crosses a file system boundary'],
  ELOOP: ['invalid_argument', 'too many levels of symbolic links'],
  ENAMETOOLONG: ['invalid_argument', 'file name too long'],
  EINVAL: ['invalid_argument', 'invalid argument'],
  ENOSPC: ['resource_exhausted', 'no space left on device'],
  EDQUOT: ['resource_exhausted', 'disk quota exceeded'],
  EMFILE: ['resource_exhausted', 'too many open files in the agent'],
  ENFILE: ['resource_exhausted', 'too many open files in the system'],
  ENOMEM: ['resource_exhausted', 'out of memory'],
  EFBIG: ['resource_exhausted', 'file too large'],
  EAGAIN: ['resource_exhausted', 'resource temporarily unavailable'],
  E2BIG: ['invalid_argument', 'argument list too long'],
};
