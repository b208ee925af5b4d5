/**
 * `sandbank mcp`'s command line, parsed (node:util parseArgs, then zod): which sandbox each MCP
 * session claims, the transport (stdio, or streamable HTTP on `--http <port>`) and its limits. A
 * mistake is a ConfigurationError naming the flag, before anything listens or is claimed.
 *
 * The HTTP endpoint always wants a bearer token: whoever reaches the port runs code in a sandbox on
 * the user's credentials, and on a shared machine every local user reaches loopback. It comes from
 * `$SANDBANK_MCP_TOKEN`, never a flag (a command line is visible to every user of the machine,
 * `ps`); without it a random one is made for this run and printed once on stderr, which only the
 * user who started the server reads. Binding beyond loopback needs `--allow-remote` and a token of
 * the user's choosing (a generated one would change at every restart of a shared server).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigurationError } from '../client-errors.js';
import { CreateOptionsSchema, parseOptions } from '../options.js';
import type { CreateOptions } from '../sandbox.js';
import { isLoopbackHost } from '../transport/insecure.js';

export const MCP_TOKEN_ENV = 'SANDBANK_MCP_TOKEN';
const ROUTER_TOKEN_ENV = 'SANDBANK_ROUTER_TOKEN';

/** Default idle time after which a session's claim is deleted: long enough for an agent's thinking pause. */
const DEFAULT_IDLE_SECONDS = 600;
/** Default bound on concurrent HTTP sessions (each holds a claim, i.e. a sandbox pod). */
const DEFAULT_MAX_SESSIONS = 8;
/** Shortest bearer token accepted: shorter ones can be guessed. */
const MIN_TOKEN_LENGTH = 16;
/** Random bytes of a generated token (base64url: 32 characters). */
const GENERATED_TOKEN_BYTES = 24;

export const MCP_USAGE = `Usage: sandbank mcp [options]

Serves MCP tools (run_command, read_file, write_file, list_directory, preview_port) on one
sandbox per MCP session, claimed at the first tool call and deleted at the session's end.

  --template <name>        SandboxTemplate to claim from
  --pool <name>            SandboxWarmPool to claim from (or 'none' for a cold start)
  --namespace <ns>         the claims' namespace (default: default)
  --router-url <url>       reach the router directly (default: port-forward to it)
  --gateway <name>         reach the router through this Gateway's address
  --gateway-namespace <ns> the Gateway's namespace (default: default)
  --ca-file <file>         CA bundle that verifies the router (default: $SANDBANK_CA_FILE, Node's CAs)
  --kubeconfig <file>      kubeconfig (default: $KUBECONFIG, ~/.kube/config)
  --context <name>         kubeconfig context
  --idle-timeout <s>       delete a session's claim after this long without a tool call (default ${DEFAULT_IDLE_SECONDS})
  --http <port>            serve streamable HTTP on /mcp instead of stdio (0: any free port)
  --host <address>         HTTP bind address (default 127.0.0.1)
  --allow-remote           allow a --host that is not loopback (needs $${MCP_TOKEN_ENV})
  --max-sessions <n>       concurrent HTTP sessions (default ${DEFAULT_MAX_SESSIONS})
  -h, --help               this text

Environment: $${ROUTER_TOKEN_ENV} (router token), $${MCP_TOKEN_ENV} (bearer token HTTP clients must
send; without it --http makes one and prints it on stderr).`;

export interface HttpOptions {
  readonly port: number;
  readonly host: string;
  /** The bearer token every request must carry. */
  readonly token: string;
  /** The token was made for this run (no $SANDBANK_MCP_TOKEN): the server prints it. */
  readonly tokenGenerated: boolean;
  readonly maxSessions: number;
}

export interface McpOptions {
  /** What each session's `Sandbox.create` gets (its `signal` is the session's own). */
  readonly claim: CreateOptions;
  readonly idleTimeoutMs: number;
  /** Streamable HTTP; undefined: stdio. */
  readonly http: HttpOptions | undefined;
  readonly help: boolean;
}

const FLAGS = {
  template: { type: 'string' },
  pool: { type: 'string' },
  namespace: { type: 'string' },
  'router-url': { type: 'string' },
  gateway: { type: 'string' },
  'gateway-namespace': { type: 'string' },
  'ca-file': { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'idle-timeout': { type: 'string' },
  http: { type: 'string' },
  host: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  'max-sessions': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A flag's text as a number (flags arrive as strings). */
const numeric = (schema: z.ZodNumber) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a number')
    .transform(Number)
    .pipe(schema);

const FlagsSchema = z.object({
  template: z.string().min(1).optional(),
  pool: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
  'router-url': z.string().min(1).optional(),
  gateway: z.string().min(1).optional(),
  'gateway-namespace': z.string().min(1).optional(),
  'ca-file': z.string().min(1).optional(),
  kubeconfig: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
  // Fractions of a second are allowed: tests (and impatient users) want short ones.
  'idle-timeout': numeric(z.number().positive().max(86_400)).optional(),
  http: numeric(z.number().int().min(0).max(65_535)).optional(),
  host: z.string().min(1).optional(),
  'allow-remote': z.boolean().optional(),
  'max-sessions': numeric(z.number().int().min(1).max(1_000)).optional(),
  help: z.boolean().optional(),
});

function parseFlags(args: readonly string[]): z.infer<typeof FlagsSchema> {
  let values: unknown;
  try {
    ({ values } = parseArgs({ args: [...args], options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigurationError(error instanceof Error ? error.message : String(error));
  }
  const result = FlagsSchema.safeParse(values);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ConfigurationError(`--${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`);
}

function httpOptions(flags: z.infer<typeof FlagsSchema>, env: NodeJS.ProcessEnv): HttpOptions | undefined {
  const host = flags.host ?? '127.0.0.1';
  if (flags.http === undefined) {
    if (flags.host !== undefined || flags['allow-remote'] || flags['max-sessions'] !== undefined)
      throw new ConfigurationError('--host, --allow-remote and --max-sessions need --http <port>');
    return undefined;
  }
  const chosen = env[MCP_TOKEN_ENV] || undefined;
  if (chosen !== undefined && chosen.length < MIN_TOKEN_LENGTH)
    throw new ConfigurationError(`$${MCP_TOKEN_ENV}: must be at least ${MIN_TOKEN_LENGTH} characters`);
  if (!isLoopbackHost(host)) {
    if (!flags['allow-remote'])
      throw new ConfigurationError(
        `--host ${host}: not a loopback address; anyone who reaches it runs code in your sandboxes (add --allow-remote and set $${MCP_TOKEN_ENV})`,
      );
    if (chosen === undefined)
      throw new ConfigurationError(
        `--allow-remote: needs $${MCP_TOKEN_ENV}, the bearer token clients must send`,
      );
  }
  return {
    port: flags.http,
    host,
    token: chosen ?? randomBytes(GENERATED_TOKEN_BYTES).toString('base64url'),
    tokenGenerated: chosen === undefined,
    maxSessions: flags['max-sessions'] ?? DEFAULT_MAX_SESSIONS,
  };
}

/** The command line `args` (after `mcp`) and the environment, read. */
export function parseMcpOptions(args: readonly string[], env: NodeJS.ProcessEnv): McpOptions {
  const flags = parseFlags(args);
  if (!flags.help && !flags.template && !flags.pool)
    throw new ConfigurationError('--template or --pool: one is required');
  // Checked now, as Sandbox.create will check it: a bad name is a usage error, not a failed first call.
  const claim = parseOptions(CreateOptionsSchema, {
    template: flags.template,
    pool: flags.pool,
    namespace: flags.namespace,
    routerUrl: flags['router-url'],
    gatewayName: flags.gateway,
    gatewayNamespace: flags['gateway-namespace'],
    caFile: flags['ca-file'],
    kubeconfig: flags.kubeconfig,
    context: flags.context,
    // From the given environment, not process.env: an embedding program passes its own.
    token: env[ROUTER_TOKEN_ENV] || undefined,
  });
  return {
    claim,
    idleTimeoutMs: (flags['idle-timeout'] ?? DEFAULT_IDLE_SECONDS) * 1000,
    http: httpOptions(flags, env),
    help: flags.help ?? false,
  };
}
