/**
 * What a failure means to the shell: the documented exit codes (docs/cli.md) and the one line
 * printed for it. `run` and `exec` exit with the remote command's own code instead (a signal n as
 * 128 + n), so a script tells the CLI's failures from the command's with `--json`.
 */
import {
  ClaimFailed,
  ConfigurationError,
  KubernetesError,
  SandboxTimeout,
  SandbankError,
} from '../client-errors.js';
import { RouterError } from '../errors.js';

export const EXIT = {
  ok: 0,
  /** The router or the sandbox refused the operation (no such file, …), or a local file failed. */
  failed: 1,
  usage: 2,
  /** The claim failed, does not exist, or was not Ready in time. */
  claim: 64,
  /** The router or the API server refused the credentials (401/403). */
  auth: 65,
  /** The Kubernetes API failed, or the route through it (Gateway, port-forward) did. */
  kubernetes: 66,
  /** The router was unreachable, unavailable, or broke the stream or its protocol. */
  router: 67,
  /** An option or environment variable is invalid (also: a token over plain http to a remote host). */
  configuration: 68,
  /** A bug: the message says so; `SANDBANK_DEBUG=1` shows the stack. */
  internal: 70,
} as const;

export type ExitName = keyof typeof EXIT;

/** The command line is wrong: exit 2. */
export class UsageError extends Error {
  readonly code = 'usage';
}

/** A local file cannot be used as asked (a directory where a file is wanted): exit 1. */
export class LocalFileError extends Error {
  readonly code = 'local_file';
}

/** Ctrl-C (SIGINT) or SIGTERM stopped the CLI: exit 128 + the signal's number, as a shell reports it. */
export class Interrupted extends Error {
  readonly code = 'interrupted';
  constructor(readonly signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP') {
    super(`interrupted (${signal})`);
  }
}

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** How a shell reports a process a signal ended: 128 + its number (an unknown signal: 128). */
export function signalExit(signal: string): number {
  return 128 + (SIGNAL_NUMBERS[signal] ?? 0);
}

export interface Failure {
  readonly exit: number;
  /** A stable snake_case name (the client's error code where there is one). */
  readonly code: string;
  readonly message: string;
}

const AUTH_CODES = new Set(['unauthenticated', 'permission_denied']);

function exitOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof LocalFileError) return EXIT.failed;
  if (error instanceof Interrupted) return signalExit(error.signal);
  if (error instanceof ClaimFailed || error instanceof SandboxTimeout) return EXIT.claim;
  if (error instanceof ConfigurationError) return EXIT.configuration;
  if (error instanceof KubernetesError)
    return error.status === 401 || error.status === 403 ? EXIT.auth : EXIT.kubernetes;
  if (error instanceof RouterError) {
    if (AUTH_CODES.has(error.code)) return EXIT.auth;
    // Retryable codes say the router or the sandbox was not there to ask; the rest refuse the request.
    return error.retryable ? EXIT.router : EXIT.failed;
  }
  if (error instanceof SandbankError) {
    // The client's own: the route (gateway, port-forward) is Kubernetes'; the stream's errors are the router's.
    if (error.code === 'gateway_not_ready' || error.code === 'port_forward') return EXIT.kubernetes;
    if (error.code === 'size_limit_exceeded') return EXIT.failed;
    return EXIT.router;
  }
  // A local file's error (ENOENT, EISDIR, EACCES …) carries its syscall.
  if (error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string')
    return EXIT.failed;
  return EXIT.internal;
}

export function describeFailure(error: unknown): Failure {
  const exit = exitOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const code =
    error instanceof SandbankError ||
    error instanceof UsageError ||
    error instanceof Interrupted ||
    error instanceof LocalFileError
      ? error.code
      : exit === EXIT.failed
        ? ((error as NodeJS.ErrnoException).code ?? 'local_error').toLowerCase()
        : 'internal';
  const oneLine = message.replace(/\s*\n\s*/g, ' ').trim() || code;
  return {
    exit,
    code,
    message: exit === EXIT.internal ? `internal error: ${oneLine} (SANDBANK_DEBUG=1 shows where)` : oneLine,
  };
}
