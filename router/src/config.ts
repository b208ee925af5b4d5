/**
 * The router's configuration: environment variables parsed by zod. Errors name the variable.
 *
 * Auth has no default on purpose: a router that starts without `ROUTER_AUTH_MODE` would be an
 * open door to every sandbox in the cluster, so it refuses to start instead.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';
import { DNS1123_LABEL_PATTERN } from '@sandbank/api';
import { AgentCredentialError, checkAgentKey } from '@sandbank/kube';
import { z } from 'zod';
import { AuthMode } from './auth/mode.js';
import { DEFAULT_TOKEN_NAME, duplicateToken, tokenProblem } from './auth/token.js';
import type { TokenGrant } from './auth/token.js';
import { TokenScopeError, grantTokens, parseTokenScopes } from './auth/token-scopes.js';
import { inBlockList, ipLiteral } from './ip.js';
import { previewKeysProblem } from './ports/preview-token.js';
import type { PreviewKeys } from './ports/preview-token.js';
import { TlsMaterialError, checkTlsMaterial } from './tls.js';
import type { TlsMaterial } from './tls.js';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const seconds = (max: number) => z.coerce.number().positive().max(max);

/** A comma-separated list of namespace names; a typo would name a namespace that never exists. */
const namespaceList = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
  )
  .pipe(
    z.array(
      z
        .string()
        .max(63)
        .regex(
          new RegExp(DNS1123_LABEL_PATTERN),
          'not a namespace name (lowercase letters, digits and -, at most 63)',
        ),
    ),
  );

const EnvSchema = z.object({
  ROUTER_AUTH_MODE: AuthMode,
  ROUTER_AUTH_TOKEN: z.string().min(16).optional(),
  /** A Secret mounted as a file; preferred over ROUTER_AUTH_TOKEN (env leaks into crash dumps). */
  ROUTER_AUTH_TOKEN_FILE: z.string().min(1).optional(),
  /**
   * A directory of named tokens, one file each (a Secret mounted as a volume: each key one tenant,
   * the key its name). The token's name is the caller the per-caller limits count by.
   */
  ROUTER_AUTH_TOKEN_DIR: z.string().min(1).optional(),
  /**
   * Token mode: the namespaces each token may reach, `name=ns1,ns2` or `name=*` entries separated
   * by `;` or newlines (auth/token-scopes.ts). Required for every token: none opens all by default.
   */
  ROUTER_AUTH_TOKEN_SCOPES: z.string().optional(),
  /** The same from a file (a mounted ConfigMap key); set one of the two. */
  ROUTER_AUTH_TOKEN_SCOPES_FILE: z.string().min(1).optional(),
  /**
   * How long a TokenReview + SubjectAccessReview answer is reused. Longer: fewer API calls, but a
   * revoked RoleBinding keeps working for up to this long. 10 s keeps the API server load at one
   * review pair per caller and sandbox per 10 s.
   */
  ROUTER_AUTH_CACHE_TTL_SECONDS: seconds(3600).default(10),
  /**
   * The agent key: the file `key` of the Secret `sandbank-agent-key` (the controller creates it),
   * mounted read-only. Each pod's agent token is derived from it and the pod's
   * `sandbank.dev/agent-credential` annotation; without it, pods that carry one cannot be called.
   */
  ROUTER_AGENT_KEY_FILE: z.string().min(1).optional(),
  ROUTER_HOST: z.string().min(1).default('0.0.0.0'),
  /**
   * The serving certificate (PEM, then any intermediates) and its key, e.g. tls.crt and tls.key
   * of a mounted `kubernetes.io/tls` Secret: the HTTP and gRPC ports then speak only TLS. Without
   * them the router serves plain HTTP only on a loopback ROUTER_HOST, or with
   * ROUTER_INSECURE_PLAINTEXT=true. The metrics port stays plain: it carries no credentials.
   */
  ROUTER_TLS_CERT_FILE: z.string().min(1).optional(),
  ROUTER_TLS_KEY_FILE: z.string().min(1).optional(),
  /** How often both files are re-read: a renewed Secret is served without a restart. */
  ROUTER_TLS_RELOAD_SECONDS: seconds(86400).default(60),
  /** Plain HTTP on a non-loopback ROUTER_HOST: bearer tokens in cleartext. Development only. */
  ROUTER_INSECURE_PLAINTEXT: z.enum(['true', 'false']).default('false'),
  ROUTER_PORT: int(0, 65535).default(8080),
  /** gRPC passthrough of sandbank.agent.v1 (HTTP/2, its own port). */
  ROUTER_GRPC_PORT: int(0, 65535).default(8081),
  /** Prometheus `/metrics`; 0 serves it on ROUTER_PORT instead. */
  ROUTER_METRICS_PORT: int(0, 65535).default(9090),
  /** The runtime agent's gRPC port in each sandbox pod. */
  ROUTER_AGENT_GRPC_PORT: int(1, 65535).default(8889),
  /** `X-Sandbox-Port` that means "the agent" (what the legacy client sends). */
  ROUTER_AGENT_LEGACY_PORT: int(1, 65535).default(8888),
  /** Only these namespaces are watched and routable; empty: all namespaces. */
  ROUTER_NAMESPACES: namespaceList,
  /**
   * Token-less tunnel mode, off when empty: requests without credentials that arrive through
   * `kubectl port-forward` (on the loopback listener) may use sandboxes in these namespaces.
   * The API server's `pods/portforward` on the router pod is then the only check: see
   * auth/port-forward.ts and docs/agent-sandbox-compat.md.
   */
  ROUTER_PORTFORWARD_NAMESPACES: namespaceList,
  /**
   * The HTTP and gRPC ports' addresses, comma-separated IP literals: the pod's own IPs (the
   * downward API's `status.podIPs`). Empty: ROUTER_HOST. Required with ROUTER_PORTFORWARD_NAMESPACES,
   * whose loopback listener shares the HTTP port and which a wildcard bind would swallow.
   */
  ROUTER_BIND_ADDRESSES: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== ''),
    ),
  /** Cap (and default) of `X-Sandbox-Timeout`, as upstream's PROXY_TIMEOUT_SECONDS. */
  ROUTER_REQUEST_TIMEOUT_SECONDS: seconds(86400).default(180),
  ROUTER_MAX_BODY_BYTES: int(1, 2 ** 40).default(1024 * 1024 * 1024),
  ROUTER_MAX_JSON_BYTES: int(1, 64 * 1024 * 1024).default(1024 * 1024),
  ROUTER_WS_IDLE_TIMEOUT_SECONDS: seconds(86400).default(3600),
  ROUTER_WS_MAX_LIFETIME_SECONDS: seconds(7 * 86400).default(86400),
  ROUTER_WS_MAX_MESSAGE_BYTES: int(1024, 1024 * 1024 * 1024).default(16 * 1024 * 1024),
  ROUTER_MAX_STREAMS_PER_CALLER: int(1, 1_000_000).default(64),
  /**
   * Bytes of buffered exec output (POST …/exec, POST /execute, passthrough Run) all requests in
   * flight may hold together; past it such requests get 429 output_budget_exhausted. 128 MiB:
   * with the transient receive copies and the router's own ~150 MiB it stays inside a 512 Mi
   * limit (GKE Autopilot); at least one request at the hard maximum must fit.
   */
  ROUTER_BUFFERED_OUTPUT_BUDGET_BYTES: int(16 * 1024 * 1024, 2 ** 40).default(128 * 1024 * 1024),
  /** A WebSocket session must send its start frame within this (4408 idle_timeout). */
  ROUTER_WS_START_TIMEOUT_SECONDS: seconds(3600).default(30),
  /**
   * Open connections, HTTP (WebSocket included) and gRPC together; past it new ones are closed as
   * they are accepted. Each idle connection costs some memory; 4096 stays well inside the limit.
   */
  ROUTER_MAX_CONNECTIONS: int(1, 1_000_000).default(4096),
  /**
   * The limit before authentication, per client address (an IPv6 /64): requests whose credentials
   * the router cannot vouch for from memory, refunded when they turn out good (429 rate_limited).
   */
  ROUTER_PREAUTH_RATE_PER_SECOND: z.coerce.number().positive().max(1_000_000).default(10),
  ROUTER_PREAUTH_BURST: int(1, 1_000_000).default(50),
  /**
   * The port route (`…/sandboxclaims/{name}/ports/{port}/…`, preview links): a proxied request or
   * WebSocket with no byte either way for this long is ended (a slow or stalled sandbox, or client).
   */
  ROUTER_PORT_IDLE_TIMEOUT_SECONDS: seconds(86400).default(300),
  /** The port route: cap of a sandbox's response status line and headers together (past it: 502). */
  ROUTER_PORT_MAX_RESPONSE_HEADER_BYTES: int(1024, 1024 * 1024).default(32 * 1024),
  /**
   * Signed preview links, off when unset: a directory of HMAC keys, one file each (a Secret
   * mounted as a volume), the file name the key id, at least 32 bytes each. Links signed with any
   * of them are accepted: rotate by adding a key, signing with it, and removing the old one once
   * the longest link it signed has expired (ROUTER_PREVIEW_MAX_TTL_SECONDS). An empty directory
   * (the Secret not created) also leaves them off. Read at startup: a changed Secret takes a restart.
   */
  ROUTER_PREVIEW_KEYS_DIR: z.string().min(1).optional(),
  /** The key id new links are signed with; optional when the directory holds one key. */
  ROUTER_PREVIEW_SIGNING_KEY_ID: z.string().min(1).optional(),
  /** A link's lifetime when the caller asks for none (15 min), and the longest it may ask for (24 h). */
  ROUTER_PREVIEW_DEFAULT_TTL_SECONDS: int(1, 86400).default(900),
  ROUTER_PREVIEW_MAX_TTL_SECONDS: int(1, 86400).default(86400),
  /** How long shutdown waits for open streams before cutting them. */
  ROUTER_SHUTDOWN_GRACE_SECONDS: seconds(3600).default(30),
  ROUTER_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface RouterConfig {
  /** The metrics port's address (and the HTTP and gRPC ports' unless ROUTER_BIND_ADDRESSES is set). */
  readonly host: string;
  /** The HTTP and gRPC ports' addresses. */
  readonly networkHosts: readonly string[];
  /** Token-less tunnel mode: the namespaces the port-forward caller may use; undefined: off. */
  readonly portForward: { readonly namespaces: readonly string[] } | undefined;
  readonly port: number;
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly logLevel: z.infer<typeof EnvSchema>['ROUTER_LOG_LEVEL'];
  readonly namespaces: readonly string[];
  readonly auth: AuthConfig;
  readonly limits: Limits;
  readonly agent: AgentPorts;
  /** The agent key each pod's token is derived from; undefined: none configured. */
  readonly agentKey: Buffer | undefined;
  /** What the HTTP and gRPC ports speak. */
  readonly transport: Transport;
  /** Signed preview links: keys undefined when they are off. */
  readonly previews: {
    readonly keys: PreviewKeys | undefined;
    readonly defaultTtlSeconds: number;
    readonly maxTtlSeconds: number;
  };
}

/**
 * TLS with the pair read at startup (re-read every `reloadMs`), or plain HTTP for one of the two
 * reasons that allow it: a loopback bind (nothing crosses a network), or the explicit opt-out.
 */
export type Transport =
  | {
      readonly kind: 'tls';
      readonly certFile: string;
      readonly keyFile: string;
      readonly reloadMs: number;
      readonly material: TlsMaterial;
    }
  | { readonly kind: 'plaintext'; readonly reason: 'loopback' | 'insecure' };

export type AuthConfig =
  /** `tokens`: name → token and its namespaces; the name is the caller. */
  | { readonly mode: 'token'; readonly tokens: Readonly<Record<string, TokenGrant>> }
  | { readonly mode: 'kubernetes'; readonly cacheTtlMs: number }
  | { readonly mode: 'none' };

export interface AgentPorts {
  readonly grpcPort: number;
  readonly legacyPort: number;
}

export interface Limits {
  readonly requestTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly maxJsonBytes: number;
  readonly wsIdleTimeoutMs: number;
  readonly wsMaxLifetimeMs: number;
  readonly wsMaxMessageBytes: number;
  readonly maxStreamsPerCaller: number;
  readonly shutdownGraceMs: number;
  /** Router-wide bytes of buffered exec output in flight (admission/output-budget.ts). */
  readonly bufferedOutputBudgetBytes: number;
  readonly wsStartTimeoutMs: number;
  readonly maxConnections: number;
  readonly preAuthRatePerSecond: number;
  readonly preAuthBurst: number;
  /**
   * The port route: no byte either way on a proxied connection for this long ends it (504 before
   * the sandbox answered, a cut response or a closed WebSocket after).
   */
  readonly portIdleTimeoutMs: number;
  /** The port route: cap of a sandbox's status line and headers together (past it: 502). */
  readonly portMaxResponseHeaderBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  requestTimeoutMs: 180_000,
  maxBodyBytes: 1024 * 1024 * 1024,
  maxJsonBytes: 1024 * 1024,
  wsIdleTimeoutMs: 3_600_000,
  wsMaxLifetimeMs: 86_400_000,
  wsMaxMessageBytes: 16 * 1024 * 1024,
  maxStreamsPerCaller: 64,
  shutdownGraceMs: 30_000,
  bufferedOutputBudgetBytes: 128 * 1024 * 1024,
  wsStartTimeoutMs: 30_000,
  maxConnections: 4096,
  preAuthRatePerSecond: 10,
  preAuthBurst: 50,
  portIdleTimeoutMs: 300_000,
  portMaxResponseHeaderBytes: 32 * 1024,
};

export const DEFAULT_AGENT_PORTS: AgentPorts = { grpcPort: 8889, legacyPort: 8888 };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment; throws ConfigError naming every bad variable. */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  listDir: (path: string) => string[] = (p) => readdirSync(p),
  readBytes: (path: string) => Buffer = (p) => readFileSync(p),
): RouterConfig {
  // One token for every agent was replaced by per-pod credentials: a leftover setting must not
  // leave an operator believing agents still check it.
  if (env['ROUTER_AGENT_TOKEN_FILE'] !== undefined) {
    throw new ConfigError(
      'invalid router configuration: ROUTER_AGENT_TOKEN_FILE: removed; agents check per-pod credentials derived from ROUTER_AGENT_KEY_FILE (docs/agent-credentials.md)',
    );
  }
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const variable = i.path.map(String).join('.');
      if (variable === 'ROUTER_AUTH_MODE' && env['ROUTER_AUTH_MODE'] === undefined) {
        return 'ROUTER_AUTH_MODE: required; set token, kubernetes, or none (none is for development only)';
      }
      return `${variable}: ${i.message}`;
    });
    throw new ConfigError(`invalid router configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const networkHosts = networkAddresses(e);
  return {
    host: e.ROUTER_HOST,
    networkHosts,
    portForward: portForwardConfig(e, networkHosts),
    port: e.ROUTER_PORT,
    grpcPort: e.ROUTER_GRPC_PORT,
    metricsPort: e.ROUTER_METRICS_PORT,
    logLevel: e.ROUTER_LOG_LEVEL,
    namespaces: e.ROUTER_NAMESPACES,
    auth: authConfig(e, readFile, listDir),
    transport: transportConfig(e, networkHosts, readFile),
    agent: { grpcPort: e.ROUTER_AGENT_GRPC_PORT, legacyPort: e.ROUTER_AGENT_LEGACY_PORT },
    agentKey: agentKey(e.ROUTER_AGENT_KEY_FILE, readBytes),
    limits: {
      requestTimeoutMs: Math.round(e.ROUTER_REQUEST_TIMEOUT_SECONDS * 1000),
      maxBodyBytes: e.ROUTER_MAX_BODY_BYTES,
      maxJsonBytes: e.ROUTER_MAX_JSON_BYTES,
      wsIdleTimeoutMs: Math.round(e.ROUTER_WS_IDLE_TIMEOUT_SECONDS * 1000),
      wsMaxLifetimeMs: Math.round(e.ROUTER_WS_MAX_LIFETIME_SECONDS * 1000),
      wsMaxMessageBytes: e.ROUTER_WS_MAX_MESSAGE_BYTES,
      maxStreamsPerCaller: e.ROUTER_MAX_STREAMS_PER_CALLER,
      shutdownGraceMs: Math.round(e.ROUTER_SHUTDOWN_GRACE_SECONDS * 1000),
      bufferedOutputBudgetBytes: e.ROUTER_BUFFERED_OUTPUT_BUDGET_BYTES,
      wsStartTimeoutMs: Math.round(e.ROUTER_WS_START_TIMEOUT_SECONDS * 1000),
      maxConnections: e.ROUTER_MAX_CONNECTIONS,
      preAuthRatePerSecond: e.ROUTER_PREAUTH_RATE_PER_SECOND,
      preAuthBurst: e.ROUTER_PREAUTH_BURST,
      portIdleTimeoutMs: Math.round(e.ROUTER_PORT_IDLE_TIMEOUT_SECONDS * 1000),
      portMaxResponseHeaderBytes: e.ROUTER_PORT_MAX_RESPONSE_HEADER_BYTES,
    },
    previews: previewConfig(e, listDir, readBytes),
  };
}

/** ROUTER_PREVIEW_*: the keys by id (binary, never trimmed) and the link lifetimes. */
function previewConfig(
  e: z.infer<typeof EnvSchema>,
  listDir: (path: string) => string[],
  readBytes: (path: string) => Buffer,
): RouterConfig['previews'] {
  const defaultTtlSeconds = e.ROUTER_PREVIEW_DEFAULT_TTL_SECONDS;
  const maxTtlSeconds = e.ROUTER_PREVIEW_MAX_TTL_SECONDS;
  if (defaultTtlSeconds > maxTtlSeconds) {
    throw new ConfigError(
      `ROUTER_PREVIEW_DEFAULT_TTL_SECONDS: ${defaultTtlSeconds} is over ROUTER_PREVIEW_MAX_TTL_SECONDS (${maxTtlSeconds})`,
    );
  }
  const dir = e.ROUTER_PREVIEW_KEYS_DIR;
  if (dir === undefined) {
    if (e.ROUTER_PREVIEW_SIGNING_KEY_ID !== undefined) {
      throw new ConfigError('ROUTER_PREVIEW_SIGNING_KEY_ID: set without ROUTER_PREVIEW_KEYS_DIR');
    }
    return { keys: undefined, defaultTtlSeconds, maxTtlSeconds };
  }
  let names: string[];
  try {
    // Kubernetes mounts a Secret's keys as symlinks beside its `..data` bookkeeping entries.
    names = listDir(dir).filter((n) => !n.startsWith('.'));
  } catch (error) {
    throw new ConfigError(`ROUTER_PREVIEW_KEYS_DIR: cannot read ${dir}: ${String(error)}`);
  }
  // An empty directory is an install whose optional Secret was not created (the manifests mount
  // it `optional: true`): previews stay off, as without the variable, rather than the router
  // refusing to start. Naming a signing key says the operator meant them on, so that still fails.
  if (names.length === 0 && e.ROUTER_PREVIEW_SIGNING_KEY_ID === undefined) {
    return { keys: undefined, defaultTtlSeconds, maxTtlSeconds };
  }
  const keys = new Map<string, Buffer>();
  for (const name of names) {
    try {
      keys.set(name, readBytes(join(dir, name)));
    } catch (error) {
      throw new ConfigError(`ROUTER_PREVIEW_KEYS_DIR: cannot read ${join(dir, name)}: ${String(error)}`);
    }
  }
  const only = keys.size === 1 ? [...keys.keys()][0] : undefined;
  const signingKeyId = e.ROUTER_PREVIEW_SIGNING_KEY_ID ?? only;
  if (signingKeyId === undefined) {
    throw new ConfigError(
      `ROUTER_PREVIEW_SIGNING_KEY_ID: required when ROUTER_PREVIEW_KEYS_DIR holds ${keys.size} keys (name the one new links are signed with)`,
    );
  }
  const problem = previewKeysProblem({ signingKeyId, keys });
  if (problem !== undefined) throw new ConfigError(`ROUTER_PREVIEW_KEYS_DIR: ${problem}`);
  return { keys: { signingKeyId, keys }, defaultTtlSeconds, maxTtlSeconds };
}

/** The agent key's bytes, as the Secret holds them (binary: never decoded or trimmed). */
function agentKey(path: string | undefined, readBytes: (path: string) => Buffer): Buffer | undefined {
  if (path === undefined) return undefined;
  let key: Buffer;
  try {
    key = readBytes(path);
  } catch (error) {
    throw new ConfigError(`ROUTER_AGENT_KEY_FILE: cannot read ${path}: ${String(error)}`);
  }
  try {
    checkAgentKey(key);
  } catch (error) {
    if (!(error instanceof AgentCredentialError)) throw error;
    throw new ConfigError(`ROUTER_AGENT_KEY_FILE: ${path}: ${error.message}`);
  }
  return key;
}

function readOptional(
  path: string | undefined,
  variable: string,
  readFile: (path: string) => string,
): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFile(path).trim();
  } catch (error) {
    throw new ConfigError(`${variable}: cannot read ${path}: ${String(error)}`);
  }
}

function authConfig(
  e: z.infer<typeof EnvSchema>,
  readFile: (path: string) => string,
  listDir: (path: string) => string[],
): AuthConfig {
  switch (e.ROUTER_AUTH_MODE) {
    case 'none':
      return { mode: 'none' };
    case 'kubernetes':
      return { mode: 'kubernetes', cacheTtlMs: Math.round(e.ROUTER_AUTH_CACHE_TTL_SECONDS * 1000) };
    case 'token':
      return { mode: 'token', tokens: tokenGrants(e, configuredTokens(e, readFile, listDir), readFile) };
  }
}

/** Each token with its namespaces, from ROUTER_AUTH_TOKEN_SCOPES or its _FILE. */
function tokenGrants(
  e: z.infer<typeof EnvSchema>,
  tokens: Readonly<Record<string, string>>,
  readFile: (path: string) => string,
): Record<string, TokenGrant> {
  const file = e.ROUTER_AUTH_TOKEN_SCOPES_FILE;
  if (file !== undefined && e.ROUTER_AUTH_TOKEN_SCOPES !== undefined) {
    throw new ConfigError('ROUTER_AUTH_TOKEN_SCOPES_FILE: set it or ROUTER_AUTH_TOKEN_SCOPES, not both');
  }
  const variable = file === undefined ? 'ROUTER_AUTH_TOKEN_SCOPES' : 'ROUTER_AUTH_TOKEN_SCOPES_FILE';
  const text =
    (file === undefined ? e.ROUTER_AUTH_TOKEN_SCOPES : readOptional(file, variable, readFile)) ?? '';
  try {
    return grantTokens(tokens, parseTokenScopes(text), e.ROUTER_NAMESPACES);
  } catch (error) {
    if (error instanceof TokenScopeError) throw new ConfigError(`${variable}: ${error.message}`);
    throw error;
  }
}

/** Name → token from ROUTER_AUTH_TOKEN_FILE (or ROUTER_AUTH_TOKEN), named `token`, and ROUTER_AUTH_TOKEN_DIR. */
function configuredTokens(
  e: z.infer<typeof EnvSchema>,
  readFile: (path: string) => string,
  listDir: (path: string) => string[],
): Record<string, string> {
  const read = (variable: string, path: string): string => {
    try {
      return readFile(path).trim();
    } catch (error) {
      throw new ConfigError(`${variable}: cannot read ${path}: ${String(error)}`);
    }
  };
  const tokens: Record<string, string> = {};
  const single = e.ROUTER_AUTH_TOKEN_FILE === undefined ? 'ROUTER_AUTH_TOKEN' : 'ROUTER_AUTH_TOKEN_FILE';
  const token =
    e.ROUTER_AUTH_TOKEN_FILE === undefined ? e.ROUTER_AUTH_TOKEN : read(single, e.ROUTER_AUTH_TOKEN_FILE);
  if (token !== undefined) {
    const problem = tokenProblem(DEFAULT_TOKEN_NAME, token);
    if (problem !== undefined) throw new ConfigError(`${single}: ${problem}`);
    tokens[DEFAULT_TOKEN_NAME] = token;
  }
  const dir = e.ROUTER_AUTH_TOKEN_DIR;
  if (dir !== undefined) {
    let names: string[];
    try {
      // A mounted Secret also holds `..data` and a timestamped directory: the keys are the rest.
      names = listDir(dir).filter((n) => !n.startsWith('.'));
    } catch (error) {
      throw new ConfigError(`ROUTER_AUTH_TOKEN_DIR: cannot list ${dir}: ${String(error)}`);
    }
    for (const name of names.sort()) {
      const value = read('ROUTER_AUTH_TOKEN_DIR', join(dir, name));
      const problem = tokenProblem(name, value);
      if (problem !== undefined) throw new ConfigError(`ROUTER_AUTH_TOKEN_DIR: ${problem}`);
      // The single token's file may be one of the directory's (the same Secret): the same entry.
      if (tokens[name] !== undefined && tokens[name] !== value) {
        throw new ConfigError(`ROUTER_AUTH_TOKEN_DIR: ${name}: also the name of ${single}'s token`);
      }
      tokens[name] = value;
    }
  }
  if (Object.keys(tokens).length === 0) {
    throw new ConfigError(
      'ROUTER_AUTH_TOKEN_FILE, ROUTER_AUTH_TOKEN_DIR or ROUTER_AUTH_TOKEN: token mode needs a token of at least 16 characters',
    );
  }
  const duplicate = duplicateToken(tokens);
  if (duplicate !== undefined) throw new ConfigError(`ROUTER_AUTH_TOKEN_DIR: ${duplicate}`);
  return tokens;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** An IP literal on loopback. Names (even `localhost`) are not: what they resolve to can change. */
export function isLoopbackAddress(host: string): boolean {
  return inBlockList(LOOPBACK, host);
}

/** ROUTER_BIND_ADDRESSES (IP literals), or ROUTER_HOST. */
function networkAddresses(e: z.infer<typeof EnvSchema>): string[] {
  if (e.ROUTER_BIND_ADDRESSES.length === 0) return [e.ROUTER_HOST];
  for (const address of e.ROUTER_BIND_ADDRESSES) {
    if (isIP(address) === 0) {
      throw new ConfigError(
        `ROUTER_BIND_ADDRESSES: ${address} is not an IP address (the pod's IPs, from the downward API's status.podIPs)`,
      );
    }
  }
  return e.ROUTER_BIND_ADDRESSES;
}

/**
 * The port-forward listener's addresses (127.0.0.1 and ::1, where the CRI dials `localhost`), in
 * any spelling. Another loopback address (127.0.0.2) is no way in from outside the pod either, so
 * a network listener may use it (a router run outside a pod, in tests).
 */
const PORT_FORWARD_ADDRESSES = new BlockList();
PORT_FORWARD_ADDRESSES.addAddress('127.0.0.1', 'ipv4');
PORT_FORWARD_ADDRESSES.addAddress('::1', 'ipv6');
PORT_FORWARD_ADDRESSES.addAddress('::ffff:127.0.0.1', 'ipv6');

function isPortForwardAddress(host: string): boolean {
  return inBlockList(PORT_FORWARD_ADDRESSES, host);
}

const UNSPECIFIED = new BlockList();
UNSPECIFIED.addAddress('0.0.0.0', 'ipv4');
UNSPECIFIED.addAddress('::', 'ipv6');

function isWildcard(host: string): boolean {
  // A name is not a specific address either: it may resolve to anything, or to the wildcard.
  const ip = ipLiteral(host);
  return ip === undefined || inBlockList(UNSPECIFIED, ip);
}

/**
 * Tunnel mode is safe only when the loopback listener is the sole way in to loopback: the
 * network listener on the pod's own addresses, never a wildcard (it would also take the
 * connections kubectl port-forward makes to localhost) and never loopback.
 */
function portForwardConfig(
  e: z.infer<typeof EnvSchema>,
  networkHosts: readonly string[],
): RouterConfig['portForward'] {
  const namespaces = e.ROUTER_PORTFORWARD_NAMESPACES;
  if (namespaces.length === 0) return undefined;
  const wildcard = networkHosts.find(isWildcard);
  if (wildcard !== undefined) {
    throw new ConfigError(
      `ROUTER_PORTFORWARD_NAMESPACES: the network listener must not bind a wildcard address (${wildcard}): ` +
        "it would take the loopback connections kubectl port-forward makes. Set ROUTER_BIND_ADDRESSES to the pod's IPs " +
        '(the downward API status.podIPs), or unset ROUTER_PORTFORWARD_NAMESPACES',
    );
  }
  const taken = networkHosts.find(isPortForwardAddress);
  if (taken !== undefined) {
    throw new ConfigError(
      `ROUTER_BIND_ADDRESSES: ${taken} is where kubectl port-forward arrives; with ROUTER_PORTFORWARD_NAMESPACES it is the port-forward listener's. Bind the pod's IPs`,
    );
  }
  const outside = namespaces.find(
    (ns) => e.ROUTER_NAMESPACES.length > 0 && !e.ROUTER_NAMESPACES.includes(ns),
  );
  if (outside !== undefined) {
    throw new ConfigError(
      `ROUTER_PORTFORWARD_NAMESPACES: ${outside} is not in ROUTER_NAMESPACES (the router neither watches nor serves it)`,
    );
  }
  return { namespaces };
}

function transportConfig(
  e: z.infer<typeof EnvSchema>,
  networkHosts: readonly string[],
  readFile: (path: string) => string,
): Transport {
  const certFile = e.ROUTER_TLS_CERT_FILE;
  const keyFile = e.ROUTER_TLS_KEY_FILE;
  const insecure = e.ROUTER_INSECURE_PLAINTEXT === 'true';
  if (certFile === undefined && keyFile !== undefined) {
    throw new ConfigError('ROUTER_TLS_CERT_FILE: required with ROUTER_TLS_KEY_FILE');
  }
  if (certFile !== undefined && keyFile === undefined) {
    throw new ConfigError('ROUTER_TLS_KEY_FILE: required with ROUTER_TLS_CERT_FILE');
  }
  if (certFile !== undefined && keyFile !== undefined) {
    if (insecure) {
      throw new ConfigError(
        'ROUTER_INSECURE_PLAINTEXT: cannot be true together with ROUTER_TLS_CERT_FILE; unset one of them',
      );
    }
    const read = (variable: string, path: string): Buffer => {
      try {
        return Buffer.from(readFile(path), 'utf8');
      } catch (error) {
        throw new ConfigError(`${variable}: cannot read ${path}: ${String(error)}`);
      }
    };
    const material = {
      cert: read('ROUTER_TLS_CERT_FILE', certFile),
      key: read('ROUTER_TLS_KEY_FILE', keyFile),
    };
    try {
      checkTlsMaterial(material);
    } catch (error) {
      if (!(error instanceof TlsMaterialError)) throw error;
      const message =
        error.problem === 'not-a-certificate'
          ? `ROUTER_TLS_CERT_FILE: not a PEM certificate (${certFile})`
          : error.problem === 'not-a-key'
            ? `ROUTER_TLS_KEY_FILE: not a PEM private key (${keyFile})`
            : `ROUTER_TLS_KEY_FILE: does not belong to the certificate in ROUTER_TLS_CERT_FILE (${keyFile}, ${certFile})`;
      throw new ConfigError(message);
    }
    const reloadMs = Math.round(e.ROUTER_TLS_RELOAD_SECONDS * 1000);
    return { kind: 'tls', certFile, keyFile, reloadMs, material };
  }
  // The metrics port on ROUTER_HOST carries no credentials; the network listener's addresses decide.
  if (networkHosts.every(isLoopbackAddress)) return { kind: 'plaintext', reason: 'loopback' };
  if (insecure) return { kind: 'plaintext', reason: 'insecure' };
  const exposed =
    e.ROUTER_BIND_ADDRESSES.length > 0
      ? `ROUTER_BIND_ADDRESSES (${networkHosts.join(',')})`
      : `ROUTER_HOST (${e.ROUTER_HOST})`;
  throw new ConfigError(
    `ROUTER_TLS_CERT_FILE: required when ${exposed} is not a loopback address, ` +
      'or bearer tokens cross the network in cleartext. Set ROUTER_TLS_CERT_FILE and ROUTER_TLS_KEY_FILE ' +
      '(a mounted kubernetes.io/tls Secret), bind a loopback ROUTER_HOST (127.0.0.1) for local use, ' +
      'or set ROUTER_INSECURE_PLAINTEXT=true (development only)',
  );
}
