/**
 * The agent's configuration, from environment variables only (a sandbox pod has no config
 * files of its own). Every variable is parsed with zod; a bad value stops the agent with a
 * message naming the variable. Empty values count as unset, as the legacy runtime treats them.
 *
 * The legacy python-runtime variables `SANDBOX_BASE_DIR` and `SANDBOX_EXEC_TIMEOUT_SECONDS` are
 * honoured when the Sandbank ones are unset, so templates written for that image keep working.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Every agent setting starts with this; none of them reaches a sandboxed process. */
export const ENV_PREFIX = 'SANDBANK_AGENT_';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);

const EnvSchema = z.object({
  SANDBANK_AGENT_HOST: z.string().default('0.0.0.0'),
  /** gRPC (ExecService, FileService, Health). 0: any free port. */
  SANDBANK_AGENT_GRPC_PORT: port.default(8889),
  /** The legacy python-runtime REST API. 0: any free port. */
  SANDBANK_AGENT_REST_PORT: port.default(8888),
  SANDBANK_AGENT_WORKSPACE: z.string().startsWith('/', 'must be an absolute path').optional(),
  SANDBOX_BASE_DIR: z.string().startsWith('/', 'must be an absolute path').optional(),
  /**
   * Processes alive at once. 64: far above what an agent driving a sandbox runs at once, low
   * enough that a runaway client cannot fork-bomb the sandbox through the API (each process
   * costs the agent two pipes and up to 256 KiB of queued output).
   */
  SANDBANK_AGENT_MAX_PROCESSES: positiveInt.default(64),
  /** Wall-clock limit of a process whose caller sets none: the legacy runtime's 300 s. */
  SANDBANK_AGENT_DEFAULT_TIMEOUT_MS: positiveInt.optional(),
  SANDBOX_EXEC_TIMEOUT_SECONDS: z.coerce.number().positive().optional(),
  /**
   * SIGTERM → SIGKILL grace when a limit passes. 2 s lets a process flush and clean up; longer
   * keeps a caller who set a timeout waiting past it, shorter denies well-behaved programs
   * their cleanup. 0: SIGKILL at once.
   */
  SANDBANK_AGENT_KILL_GRACE_MS: nonNegativeInt.default(2000),
  /** Output kept per stream by Run and POST /execute when the caller sets no cap: 1 MiB. */
  SANDBANK_AGENT_RUN_MAX_OUTPUT_BYTES: positiveInt.default(1024 * 1024),
  /**
   * On SIGTERM: how long running calls may finish before their processes are killed. Kubelet's
   * default grace period is 30 s; 10 s leaves the rest for the kill and the exit.
   */
  SANDBANK_AGENT_DRAIN_TIMEOUT_MS: nonNegativeInt.default(10_000),
  /**
   * The pod's credential: the hex SHA-256 of the token the router presents as
   * `authorization: Bearer <token>`. The controller sets it on every container of every sandbox
   * pod it creates (a token of that pod alone); only the hash is in the sandbox, so code running
   * there cannot learn the token. Required unless SANDBANK_AGENT_INSECURE_NO_AUTH=true.
   */
  SANDBANK_AGENT_TOKEN_SHA256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits (the SHA-256 of the token)')
    .optional(),
  /**
   * `true`: run with no credential at all, so that anyone who reaches the ports runs commands.
   * Local development only; a configured digest wins over it (a template cannot switch a
   * controller-made pod's check off by setting it).
   */
  SANDBANK_AGENT_INSECURE_NO_AUTH: z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default('false'),
  SANDBANK_AGENT_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
  /**
   * Background processes (ProcessService) running at once; they count toward
   * SANDBANK_AGENT_MAX_PROCESSES too. 32 leaves half of that cap to Exec and Run.
   */
  SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES: positiveInt.default(32),
  /**
   * Background processes kept, running or finished; starting one more evicts the finished one
   * that ended first. Must be at least SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES.
   */
  SANDBANK_AGENT_MAX_RETAINED_PROCESSES: positiveInt.default(128),
  /** Output ring per background process: 8 MiB (a long build's log tail, a server's recent log). */
  SANDBANK_AGENT_PROCESS_BUFFER_BYTES: positiveInt.default(8 * 1024 * 1024),
  /**
   * Output rings of all background processes together: 64 MiB, so that rings never take more
   * than that from the sandbox's memory limit (the agent shares it with the sandbox's programs).
   */
  SANDBANK_AGENT_PROCESS_BUFFER_TOTAL_BYTES: positiveInt.default(64 * 1024 * 1024),
});

export interface AgentConfig {
  readonly host: string;
  readonly grpcPort: number;
  readonly restPort: number;
  /** Absolute path of the workspace root. Default /workspace. */
  readonly workspace: string;
  readonly maxProcesses: number;
  readonly defaultTimeoutMs: number;
  readonly killGraceMs: number;
  readonly runMaxOutputBytes: number;
  readonly drainTimeoutMs: number;
  /** SHA-256 of the expected bearer token; undefined only with `insecureNoAuth`. */
  readonly tokenSha256: Buffer | undefined;
  /** SANDBANK_AGENT_INSECURE_NO_AUTH=true was set (ignored when a digest is configured). */
  readonly insecureNoAuth: boolean;
  readonly logLevel: string;
  /** Background processes (ProcessService): running at once, retained, ring bytes each and in all. */
  readonly background: {
    readonly maxRunning: number;
    readonly maxRetained: number;
    readonly bufferBytes: number;
    readonly totalBufferBytes: number;
  };
}

/** Parses the agent's settings from `env`; throws an Error naming each bad variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): AgentConfig {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''),
  );
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid agent configuration: ${problems.join('; ')}`);
  }
  const c = parsed.data;
  if (c.SANDBANK_AGENT_MAX_RETAINED_PROCESSES < c.SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES) {
    throw new Error(
      'invalid agent configuration: SANDBANK_AGENT_MAX_RETAINED_PROCESSES: must be at least ' +
        `SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES (${c.SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES})`,
    );
  }
  const insecureNoAuth = c.SANDBANK_AGENT_INSECURE_NO_AUTH === 'true';
  // Default deny: an agent without a credential would run commands for anyone who reaches it
  // (another pod on the node, a hostNetwork pod), so it does not start unless told to.
  if (c.SANDBANK_AGENT_TOKEN_SHA256 === undefined && !insecureNoAuth) {
    throw new Error(
      'invalid agent configuration: SANDBANK_AGENT_TOKEN_SHA256: required (the Sandbank controller sets ' +
        "it on every sandbox pod: the SHA-256 of that pod's token); to run with no credential at all " +
        '(local development only) set SANDBANK_AGENT_INSECURE_NO_AUTH=true',
    );
  }
  return {
    host: c.SANDBANK_AGENT_HOST,
    grpcPort: c.SANDBANK_AGENT_GRPC_PORT,
    restPort: c.SANDBANK_AGENT_REST_PORT,
    workspace: c.SANDBANK_AGENT_WORKSPACE ?? c.SANDBOX_BASE_DIR ?? '/workspace',
    maxProcesses: c.SANDBANK_AGENT_MAX_PROCESSES,
    defaultTimeoutMs:
      c.SANDBANK_AGENT_DEFAULT_TIMEOUT_MS ??
      (c.SANDBOX_EXEC_TIMEOUT_SECONDS === undefined
        ? 300_000
        : Math.ceil(c.SANDBOX_EXEC_TIMEOUT_SECONDS * 1000)),
    killGraceMs: c.SANDBANK_AGENT_KILL_GRACE_MS,
    runMaxOutputBytes: c.SANDBANK_AGENT_RUN_MAX_OUTPUT_BYTES,
    drainTimeoutMs: c.SANDBANK_AGENT_DRAIN_TIMEOUT_MS,
    tokenSha256:
      c.SANDBANK_AGENT_TOKEN_SHA256 === undefined
        ? undefined
        : Buffer.from(c.SANDBANK_AGENT_TOKEN_SHA256, 'hex'),
    insecureNoAuth,
    logLevel: c.SANDBANK_AGENT_LOG_LEVEL,
    background: {
      maxRunning: c.SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES,
      maxRetained: c.SANDBANK_AGENT_MAX_RETAINED_PROCESSES,
      bufferBytes: c.SANDBANK_AGENT_PROCESS_BUFFER_BYTES,
      totalBufferBytes: c.SANDBANK_AGENT_PROCESS_BUFFER_TOTAL_BYTES,
    },
  };
}

/** The environment sandboxed processes start from: the agent's own, less its settings. */
export function childEnvironment(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !name.startsWith(ENV_PREFIX)) out[name] = value;
  }
  return out;
}

/** The value for SANDBANK_AGENT_TOKEN_SHA256 that accepts `token`. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
