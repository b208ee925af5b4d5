/**
 * The configuration of Sandbank's two processes, the controller (main.ts, `loadConfig`) and the
 * conversion webhook (webhook/main.ts, `loadWebhookConfig`): environment variables, each
 * overridable by a `--flag=value` (the variable's name in lower kebab case: WATCH_NAMESPACE →
 * --watch-namespace; a bare `--leader-elect` means true). Parsed by zod; an error names every bad
 * variable and what is wrong with it, and carries no stack worth printing (main prints `message`).
 *
 * Each process reads the shared variables (KUBECONFIG, POD_NAMESPACE, HTTP_PORT,
 * HTTP_BIND_ADDRESS, LOG_LEVEL, CLUSTER_DOMAIN) and its own: WEBHOOK_* are the webhook's, the
 * rest the controller's. The other process's variables are not read at all, so a bad controller
 * setting never keeps v1alpha1 from being served, nor a bad webhook setting the controller from
 * reconciling; its flags are unknown arguments.
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | KUBECONFIG | (in-cluster) | one kubeconfig file; unset or empty: the pod's service account |
 * | WATCH_NAMESPACE | (all) | only these namespaces, comma separated; unset or empty: all namespaces |
 * | CONTROLLER_WORKERS | 8 | concurrent reconciles per controller |
 * | CONTROLLER_WORKERS_BY_NAME | — | per-controller overrides, `sandboxclaim=16,sandboxwarmpool=2` |
 * | LEADER_ELECT | true | campaign for a Lease before reconciling (needed with >1 replica) |
 * | LEADER_ELECTION_NAMESPACE | $POD_NAMESPACE or sandbank-system | the Lease's namespace |
 * | LEADER_ELECTION_NAME | sandbank-controller | the Lease's name |
 * | LEADER_ELECTION_IDENTITY | <hostname>_<pid> | this replica's holder identity |
 * | LEADER_ELECTION_LEASE_DURATION_MS | 15000 | see runtime/leader-election.ts |
 * | LEADER_ELECTION_RENEW_DEADLINE_MS | 10000 | see runtime/leader-election.ts |
 * | LEADER_ELECTION_RETRY_PERIOD_MS | 2000 | see runtime/leader-election.ts |
 * | HTTP_PORT | 8080 | /healthz, /readyz, /metrics |
 * | HTTP_BIND_ADDRESS | 0.0.0.0 | the kubelet probes the pod IP, so not loopback by default |
 * | LOG_LEVEL | info | trace, debug, info, warn, error, fatal, silent |
 * | ROUTER_POD_SELECTOR | app=sandbox-router | labels of router pods allowed into sandboxes |
 * | ROUTER_NAMESPACES | . | namespaces of the router pods, comma separated; `.` is the sandbox's own namespace (ROUTER_NAMESPACE, its single-namespace predecessor, stops the controller) |
 * | CLUSTER_DOMAIN | cluster.local | suffix of Service FQDNs in sandbox status |
 * | SANDBOX_RUNTIME_CLASSES | gvisor | RuntimeClasses sandbox pods may use, comma separated; the first is the default |
 * | SANDBOX_ALLOWED_CAPABILITIES | (none) | capabilities a sandbox container may add, comma separated |
 * | AGENT_KEY_SECRET | sandbank-agent-key | the agent key's Secret (created at start if missing): `name` in $POD_NAMESPACE or sandbank-system, or `namespace/name` |
 * | WEBHOOK_PORT | 9443 | the conversion webhook's HTTPS port (the controller no longer serves it, and WEBHOOK, its on/off switch, stops the controller) |
 * | WEBHOOK_BIND_ADDRESS | 0.0.0.0 | the API server calls the pod IP through the Service |
 * | WEBHOOK_CERT_MODE | self | self: CA and leaf in WEBHOOK_SECRET, made and renewed here; files: tls.crt, tls.key, ca.crt in WEBHOOK_CERT_DIR (cert-manager) |
 * | WEBHOOK_CERT_DIR | — | the certificate directory of files mode |
 * | WEBHOOK_SECRET | sandbank-webhook-tls | self mode's Secret: `name` in $POD_NAMESPACE or sandbank-system, or `namespace/name` |
 * | WEBHOOK_SERVICE | $POD_NAMESPACE/sandbank-webhook | the Service the CRDs call (port 443, path /convert): `name` or `namespace/name` |
 * | WEBHOOK_URL | — | `https://host:port/convert` the CRDs call instead of the Service (control planes without cluster networking) |
 * | STORAGE_MIGRATION | auto | auto: the leader rewrites objects stored in an old version and trims storedVersions; off |
 *
 * The two SANDBOX_ variables come from the admission policy's parameter ConfigMap
 * (manifests/base/admission), so the controller and the policy enforce one list.
 */
import { hostname } from 'node:os';
import {
  CONVERSION_WEBHOOK,
  DNS1123_LABEL_PATTERN,
  DNS1123_SUBDOMAIN_PATTERN,
  LABEL_VALUE_PATTERN,
  QUALIFIED_NAME_PATTERN,
} from '@sandbank/api';
import { z } from 'zod';
import type { LogLevel } from './observability/logger.js';
import { LOG_LEVELS } from './observability/logger.js';
import {
  DEFAULT_PROFILE_SETTINGS,
  normalizeCapability,
  type ProfileSettings,
} from './reconcilers/shared/pure-profile.js';
import { OWN_NAMESPACE } from './reconcilers/sandbox-template/plan.js';
import type { WebhookTarget } from './webhook/crd-conversion.js';

/** What both processes read. */
export interface SharedConfig {
  /** Undefined: in-cluster configuration. */
  readonly kubeconfig: string | undefined;
  readonly http: { readonly port: number; readonly bindAddress: string };
  readonly logLevel: LogLevel;
  readonly clusterDomain: string;
}

export interface ControllerConfig extends SharedConfig {
  /** The namespaces watched (one informer per kind in each); empty: all namespaces. */
  readonly watchNamespaces: readonly string[];
  readonly workers: number;
  readonly workersByController: Readonly<Record<string, number>>;
  readonly leaderElection: {
    readonly enabled: boolean;
    readonly namespace: string;
    readonly name: string;
    readonly identity: string;
    readonly leaseDurationMs: number;
    readonly renewDeadlineMs: number;
    readonly retryPeriodMs: number;
  };
  readonly router: {
    readonly podSelector: Readonly<Record<string, string>>;
    /** Namespaces of router pods, in order, at least one; `.` (OWN_NAMESPACE) is the sandbox's own. */
    readonly namespaces: readonly string[];
  };
  /** The cluster's sandbox profile settings (namespaces may relax them with labels). */
  readonly profile: ProfileSettings;
  /** The Secret holding the agent key every pod's credential is derived from (agent-credentials.ts). */
  readonly agentKeySecret: { readonly namespace: string; readonly name: string };
  readonly storageMigration: 'auto' | 'off';
}

/** The conversion webhook process's configuration (webhook/main.ts). */
export interface WebhookProcessConfig extends SharedConfig {
  readonly webhook: WebhookConfig;
}

/** Where the serving certificate comes from. */
export type WebhookCert =
  /** Made and renewed by the webhook, CA and leaf kept in this Secret. */
  | { readonly mode: 'self'; readonly secret: { readonly namespace: string; readonly name: string } }
  /** tls.crt, tls.key (and ca.crt) in this directory, e.g. a Secret cert-manager keeps. */
  | { readonly mode: 'files'; readonly dir: string };

export interface WebhookConfig {
  readonly port: number;
  readonly bindAddress: string;
  readonly cert: WebhookCert;
  /** What the CRDs' clientConfig names: the Service, or a URL (which wins). */
  readonly target: WebhookTarget;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

/** Workers for one controller: its override, else the default. */
export function workersFor(config: ControllerConfig, controller: string): number {
  return config.workersByController[controller] ?? config.workers;
}

const DNS1123_LABEL = new RegExp(DNS1123_LABEL_PATTERN);
const DNS1123_SUBDOMAIN = new RegExp(DNS1123_SUBDOMAIN_PATTERN);
const QUALIFIED_NAME = new RegExp(QUALIFIED_NAME_PATTERN);
const LABEL_VALUE = new RegExp(LABEL_VALUE_PATTERN);

/** Unset and empty are the same: an empty variable means "use the default". */
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const namespaceName = optionalText.refine(
  (v) => v === undefined || (v.length <= 63 && DNS1123_LABEL.test(v)),
  {
    message: 'must be a namespace name (DNS-1123 label: lowercase letters, digits and -, at most 63)',
  },
);

const isNamespaceName = (v: string): boolean => v.length <= 63 && DNS1123_LABEL.test(v);

/**
 * `team-a,team-b`: namespaces in order, repeats dropped. An empty entry (`a,,b`, a trailing
 * comma) is refused rather than skipped: it usually means a list built from an unset variable.
 * `own`: also accept `.` (OWN_NAMESPACE) as an entry.
 */
const namespaceListOf = (own: boolean) =>
  optionalText.transform((v, ctx) => {
    if (v === undefined) return [];
    const out: string[] = [];
    for (const [i, raw] of v.split(',').entries()) {
      const name = raw.trim();
      if (name === '') {
        ctx.addIssue({ code: 'custom', message: `entry ${i + 1} is empty (in ${JSON.stringify(v)})` });
        return z.NEVER;
      }
      if (!(own && name === OWN_NAMESPACE) && !isNamespaceName(name)) {
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(name)} is not a namespace name (DNS-1123 label: lowercase letters, digits and -, at most 63)${own ? ` nor ${OWN_NAMESPACE} (the sandbox's own)` : ''}`,
        });
        return z.NEVER;
      }
      if (!out.includes(name)) out.push(name);
    }
    return out;
  });
const namespaceList = namespaceListOf(false);

const integer = (min: number, max: number, fallback: number) =>
  optionalText.transform((v, ctx) => {
    if (v === undefined) return fallback;
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      ctx.addIssue({
        code: 'custom',
        message: `must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`,
      });
      return z.NEVER;
    }
    return n;
  });

const boolean = (fallback: boolean) =>
  optionalText.transform((v, ctx) => {
    if (v === undefined) return fallback;
    const lower = v.toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(lower)) return true;
    if (['false', '0', 'no', 'off'].includes(lower)) return false;
    ctx.addIssue({ code: 'custom', message: `must be true or false (got ${JSON.stringify(v)})` });
    return z.NEVER;
  });

/** `key=value,key2=value2` with label syntax; a controller name as key for worker overrides. */
const keyValues = <V>(parseValue: (raw: string) => V | undefined, what: string) =>
  optionalText.transform((v, ctx) => {
    const out: Record<string, V> = {};
    if (v === undefined) return out;
    for (const pair of v.split(',')) {
      const eq = pair.indexOf('=');
      const key = pair.slice(0, eq).trim();
      const value = eq < 0 ? undefined : parseValue(pair.slice(eq + 1).trim());
      if (eq < 0 || key === '' || value === undefined) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(pair)} is not ${what}` });
        return z.NEVER;
      }
      out[key] = value;
    }
    return out;
  });

/**
 * A comma-separated list, entries trimmed, empty entries skipped (the ConfigMap may say
 * `gvisor, kata`); each must pass `valid`. Unset or empty: `fallback`.
 */
const commaList = (valid: (entry: string) => string | undefined, fallback: readonly string[]) =>
  optionalText.transform((v, ctx) => {
    if (v === undefined) return [...fallback];
    const out: string[] = [];
    for (const raw of v.split(',')) {
      const entry = raw.trim();
      if (entry === '') continue;
      const problem = valid(entry);
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} ${problem}` });
        return z.NEVER;
      }
      if (!out.includes(entry)) out.push(entry);
    }
    return out.length > 0 ? out : [...fallback];
  });

/** Read by both processes: where the API server is, the health server, logs, the cluster's domain. */
const sharedVariables = {
  KUBECONFIG: optionalText,
  POD_NAMESPACE: optionalText,
  HTTP_PORT: integer(0, 65_535, 8080),
  HTTP_BIND_ADDRESS: optionalText,
  LOG_LEVEL: optionalText.transform((v, ctx) => {
    if (v === undefined) return 'info';
    const level = LOG_LEVELS.find((l) => l === v.toLowerCase());
    if (level === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(v)})`,
      });
      return z.NEVER;
    }
    return level;
  }),
  CLUSTER_DOMAIN: optionalText.refine(
    (v) => v === undefined || DNS1123_SUBDOMAIN.test(v),
    'must be a DNS domain such as cluster.local',
  ),
};

const ControllerSchema = z
  .object({
    ...sharedVariables,
    WATCH_NAMESPACE: namespaceList,
    CONTROLLER_WORKERS: integer(1, 256, 8),
    CONTROLLER_WORKERS_BY_NAME: keyValues((raw) => {
      const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
      return Number.isSafeInteger(n) && n >= 1 && n <= 256 ? n : undefined;
    }, 'controller=workers with workers from 1 to 256'),
    LEADER_ELECT: boolean(true),
    LEADER_ELECTION_NAMESPACE: namespaceName,
    LEADER_ELECTION_NAME: optionalText.refine(
      (v) => v === undefined || (v.length <= 253 && DNS1123_SUBDOMAIN.test(v)),
      'must be a Lease name (DNS-1123 subdomain)',
    ),
    LEADER_ELECTION_IDENTITY: optionalText,
    LEADER_ELECTION_LEASE_DURATION_MS: integer(1_000, 600_000, 15_000),
    LEADER_ELECTION_RENEW_DEADLINE_MS: integer(500, 600_000, 10_000),
    LEADER_ELECTION_RETRY_PERIOD_MS: integer(100, 600_000, 2_000),
    ROUTER_POD_SELECTOR: keyValues(
      (raw) => (raw.length <= 63 && LABEL_VALUE.test(raw) ? raw : undefined),
      'label=value with a valid label value',
    )
      .refine(
        (m) => Object.keys(m).every((k) => k.length <= 317 && QUALIFIED_NAME.test(k)),
        'label keys must be qualified names',
      )
      .transform((m) => (Object.keys(m).length === 0 ? { app: 'sandbox-router' } : m)),
    ROUTER_NAMESPACES: namespaceListOf(true),
    SANDBOX_RUNTIME_CLASSES: commaList(
      (name) =>
        name.length <= 253 && DNS1123_SUBDOMAIN.test(name)
          ? undefined
          : 'is not a RuntimeClass name (DNS-1123 subdomain)',
      DEFAULT_PROFILE_SETTINGS.runtimeClasses,
    ),
    SANDBOX_ALLOWED_CAPABILITIES: commaList((name) => {
      const cap = normalizeCapability(name);
      if (!/^[A-Z][A-Z0-9_]*$/.test(cap)) return 'is not a capability name (such as NET_BIND_SERVICE)';
      // ALL would make every container as capable as a privileged one.
      return cap === 'ALL' ? 'cannot be allowed: name each capability' : undefined;
    }, DEFAULT_PROFILE_SETTINGS.capabilities),
    AGENT_KEY_SECRET: optionalText.refine(isObjectRef, 'must be a Secret name, or namespace/name'),
    STORAGE_MIGRATION: optionalText.transform((v, ctx) => {
      const mode = (v ?? 'auto').toLowerCase();
      if (mode === 'auto' || mode === 'off') return mode;
      ctx.addIssue({ code: 'custom', message: `must be auto or off (got ${JSON.stringify(v)})` });
      return z.NEVER;
    }),
  })
  .superRefine((c, ctx) => {
    // Orders that make the election unsafe (see runtime/leader-election.ts).
    if (c.LEADER_ELECTION_RENEW_DEADLINE_MS >= c.LEADER_ELECTION_LEASE_DURATION_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['LEADER_ELECTION_RENEW_DEADLINE_MS'],
        message: `must be below LEADER_ELECTION_LEASE_DURATION_MS (${c.LEADER_ELECTION_LEASE_DURATION_MS})`,
      });
    }
    if (c.LEADER_ELECTION_RETRY_PERIOD_MS * 1.2 >= c.LEADER_ELECTION_RENEW_DEADLINE_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['LEADER_ELECTION_RETRY_PERIOD_MS'],
        message: `must be below LEADER_ELECTION_RENEW_DEADLINE_MS / 1.2 (${c.LEADER_ELECTION_RENEW_DEADLINE_MS})`,
      });
    }
  });

const webhookVariables = {
  ...sharedVariables,
  WEBHOOK_PORT: integer(1, 65_535, 9443),
  WEBHOOK_BIND_ADDRESS: optionalText,
  WEBHOOK_CERT_MODE: optionalText.transform((v, ctx) => {
    const mode = (v ?? 'self').toLowerCase();
    if (mode === 'self' || mode === 'files') return mode;
    ctx.addIssue({ code: 'custom', message: `must be self or files (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }),
  WEBHOOK_CERT_DIR: optionalText,
  WEBHOOK_SECRET: optionalText.refine(isObjectRef, 'must be a Secret name, or namespace/name'),
  WEBHOOK_SERVICE: optionalText.refine(
    (v) => v === undefined || (isObjectRef(v) && DNS1123_LABEL.test(v.slice(v.indexOf('/') + 1))),
    'must be a Service name, or namespace/name',
  ),
  WEBHOOK_URL: optionalText.refine((v) => {
    if (v === undefined) return true;
    if (!URL.canParse(v)) return false;
    const url = new URL(v);
    return (
      url.protocol === 'https:' &&
      url.hostname !== '' &&
      url.username === '' &&
      url.search === '' &&
      url.hash === ''
    );
  }, 'must be an https:// URL with a host and no credentials, query or fragment'),
};

/** The webhook's variables, with the certificate's mode and where it comes from made one value. */
const WebhookSchema = z.object(webhookVariables).transform((c, ctx) => {
  const podNamespace = c.POD_NAMESPACE;
  let cert: WebhookCert;
  if (c.WEBHOOK_CERT_MODE === 'self') {
    cert = { mode: 'self', secret: objectRef(c.WEBHOOK_SECRET, podNamespace, 'sandbank-webhook-tls') };
  } else if (c.WEBHOOK_CERT_DIR !== undefined) {
    cert = { mode: 'files', dir: c.WEBHOOK_CERT_DIR };
  } else {
    ctx.addIssue({
      code: 'custom',
      path: ['WEBHOOK_CERT_DIR'],
      message: 'must name the directory of tls.crt and tls.key when WEBHOOK_CERT_MODE is files',
    });
    return z.NEVER;
  }
  return { ...c, cert };
});

/**
 * Variables (and their flags) that are gone, each with what replaces it: a leftover one stops
 * the controller rather than being ignored, since ignoring it would silently change who may
 * reach sandboxes. Both were the controller's; the webhook process never read them.
 */
const CONTROLLER_REMOVED: Readonly<Record<string, string>> = {
  ROUTER_NAMESPACE:
    "removed; use ROUTER_NAMESPACES (--router-namespaces): comma list of router namespaces, `.` for the sandbox's own",
  // A leftover WEBHOOK=on would otherwise leave v1alpha1 unserved without a word.
  WEBHOOK:
    "removed; the conversion webhook is its own process (the image's webhook.mjs, Deployment sandbank-webhook), which always serves",
};

/** Read from the environment only (set by the Downward API), never a flag. */
const ENV_ONLY: ReadonlySet<string> = new Set(['POD_NAMESPACE']);

function flagOf(variable: string): string {
  return `--${variable.toLowerCase().replace(/_/g, '-')}`;
}

/**
 * One process's variables from `env` and `argv` (flags win over the environment), parsed by
 * `schema`; only the schema's own variables are read, so another process's settings in the same
 * environment are ignored, while a flag the schema does not know is an error. Throws
 * `ConfigError` listing every problem.
 */
function parseVariables<T>(
  variables: readonly string[],
  schema: z.ZodType<T>,
  removed: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string | undefined>>,
  argv: readonly string[],
): T {
  const raw: Record<string, string> = {};
  for (const v of variables) {
    const value = env[v];
    if (value !== undefined) raw[v] = value;
  }
  const problems: string[] = [];
  for (const [variable, why] of Object.entries(removed)) {
    if (env[variable] !== undefined) problems.push(`${variable}: ${why}`);
  }
  const removedFlags = new Map(Object.entries(removed).map(([v, why]) => [flagOf(v), why]));
  const byFlag = new Map(variables.filter((v) => !ENV_ONLY.has(v)).map((v) => [flagOf(v), v]));
  for (const arg of argv) {
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const variable = byFlag.get(flag);
    const gone = removedFlags.get(flag);
    if (gone !== undefined) {
      problems.push(`${arg}: ${gone}`);
      continue;
    }
    if (!arg.startsWith('--') || variable === undefined) {
      problems.push(`${arg}: unknown argument (flags: ${[...byFlag.keys()].join(', ')})`);
      continue;
    }
    raw[variable] = eq < 0 ? 'true' : arg.slice(eq + 1);
  }

  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const variable = String(issue.path[0] ?? 'configuration');
      const flag = ENV_ONLY.has(variable) || !variables.includes(variable) ? '' : ` (${flagOf(variable)})`;
      problems.push(`${variable}${flag}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return parsed.data;
}

type SharedVariables = z.output<z.ZodObject<typeof sharedVariables>>;

function sharedConfig(c: SharedVariables): SharedConfig {
  return {
    kubeconfig: c.KUBECONFIG,
    http: { port: c.HTTP_PORT, bindAddress: c.HTTP_BIND_ADDRESS ?? '0.0.0.0' },
    logLevel: c.LOG_LEVEL,
    clusterDomain: c.CLUSTER_DOMAIN ?? 'cluster.local',
  };
}

/**
 * The controller's configuration (main.ts) from `env` and `argv` (flags only, without node and
 * script paths). The webhook's WEBHOOK_* variables are not read.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  argv: readonly string[] = [],
): ControllerConfig {
  const c = parseVariables(
    Object.keys(ControllerSchema.shape),
    ControllerSchema,
    CONTROLLER_REMOVED,
    env,
    argv,
  );
  const { kubeconfig, http, logLevel, clusterDomain } = sharedConfig(c);
  return {
    kubeconfig,
    watchNamespaces: c.WATCH_NAMESPACE,
    workers: c.CONTROLLER_WORKERS,
    workersByController: c.CONTROLLER_WORKERS_BY_NAME,
    leaderElection: {
      enabled: c.LEADER_ELECT,
      namespace: c.LEADER_ELECTION_NAMESPACE ?? c.POD_NAMESPACE ?? 'sandbank-system',
      name: c.LEADER_ELECTION_NAME ?? 'sandbank-controller',
      // Hostname alone (the pod name in a cluster) would let two processes on one machine share
      // an identity and both lead; the pid tells them apart. In a container the pid is stable
      // (1), so a restarted container re-acquires its own lease at once.
      identity: c.LEADER_ELECTION_IDENTITY ?? `${hostname()}_${process.pid}`,
      leaseDurationMs: c.LEADER_ELECTION_LEASE_DURATION_MS,
      renewDeadlineMs: c.LEADER_ELECTION_RENEW_DEADLINE_MS,
      retryPeriodMs: c.LEADER_ELECTION_RETRY_PERIOD_MS,
    },
    http,
    logLevel,
    router: {
      podSelector: c.ROUTER_POD_SELECTOR,
      namespaces: c.ROUTER_NAMESPACES.length > 0 ? c.ROUTER_NAMESPACES : [OWN_NAMESPACE],
    },
    clusterDomain,
    profile: {
      runtimeClasses: c.SANDBOX_RUNTIME_CLASSES,
      capabilities: c.SANDBOX_ALLOWED_CAPABILITIES.map(normalizeCapability),
    },
    agentKeySecret: objectRef(c.AGENT_KEY_SECRET, c.POD_NAMESPACE, 'sandbank-agent-key'),
    storageMigration: c.STORAGE_MIGRATION,
  };
}

/**
 * The conversion webhook process's configuration (webhook/main.ts): the shared variables and
 * WEBHOOK_*; the controller's own variables are not read, so a bad one cannot keep v1alpha1
 * from being served.
 */
export function loadWebhookConfig(
  env: Readonly<Record<string, string | undefined>>,
  argv: readonly string[] = [],
): WebhookProcessConfig {
  const c = parseVariables(Object.keys(webhookVariables), WebhookSchema, {}, env, argv);
  return {
    ...sharedConfig(c),
    webhook: {
      port: c.WEBHOOK_PORT,
      bindAddress: c.WEBHOOK_BIND_ADDRESS ?? '0.0.0.0',
      cert: c.cert,
      target:
        c.WEBHOOK_URL !== undefined
          ? { url: c.WEBHOOK_URL }
          : {
              service: {
                ...objectRef(c.WEBHOOK_SERVICE, c.POD_NAMESPACE, CONVERSION_WEBHOOK.service),
                port: CONVERSION_WEBHOOK.port,
                path: CONVERSION_WEBHOOK.path,
              },
            },
    },
  };
}

/** `name` or `namespace/name` with a valid namespace and object name (unset: valid, the default). */
function isObjectRef(v: string | undefined): boolean {
  if (v === undefined) return true;
  const [first, second, ...rest] = v.split('/');
  const name = second ?? first ?? '';
  const namespaceOk =
    second === undefined || (first !== undefined && first.length <= 63 && DNS1123_LABEL.test(first));
  return rest.length === 0 && namespaceOk && name.length <= 253 && DNS1123_SUBDOMAIN.test(name);
}

/** `name` (in the controller's own namespace) or `namespace/name`; checked by the schema. */
function objectRef(
  value: string | undefined,
  podNamespace: string | undefined,
  fallback: string,
): { namespace: string; name: string } {
  const own = podNamespace ?? CONVERSION_WEBHOOK.namespace;
  if (value === undefined) return { namespace: own, name: fallback };
  const slash = value.indexOf('/');
  return slash < 0
    ? { namespace: own, name: value }
    : { namespace: value.slice(0, slash), name: value.slice(slash + 1) };
}
