/**
 * argv → a typed command, pure (no I/O: tested without a cluster). node:util parseArgs splits the
 * flags with one table for every command (spec.ts); each command then refuses flags that are not
 * its own, and zod checks every value, so a bad one fails naming its flag or argument.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { COMMAND_NAMES, FLAGS, flagsOf, type CommandName, type FlagName } from './spec.js';
import { UsageError } from './failures.js';

/** How to reach the cluster and the router (the client's own option names). */
export interface Connection {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
  readonly routerUrl?: string;
  readonly gatewayName?: string;
  readonly gatewayNamespace?: string;
  readonly token?: string;
  readonly caFile?: string;
}

export interface ProcessFlags {
  readonly argv: readonly string[];
  readonly stdin: boolean;
  readonly tty: boolean;
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly timeoutMs?: number;
}

export interface ClaimFrom {
  readonly template?: string;
  readonly pool?: string;
  readonly readyTimeoutMs?: number;
}

/** A path in a sandbox, a local path, or `-` (stdin or stdout). */
export type Location =
  | { readonly kind: 'sandbox'; readonly claim: string; readonly path: string }
  | { readonly kind: 'local'; readonly path: string }
  | { readonly kind: 'stdio' };

interface Common {
  readonly connection: Connection;
  readonly json: boolean;
}

export type CliCommand =
  | { readonly kind: 'help'; readonly topic: CommandName | undefined }
  | { readonly kind: 'completion'; readonly shell: 'bash' | 'zsh' }
  | (Common & { readonly kind: 'run'; readonly claim: ClaimFrom; readonly process: ProcessFlags })
  | (Common & { readonly kind: 'exec'; readonly claim: string; readonly process: ProcessFlags })
  | (Common & {
      readonly kind: 'cp';
      readonly from: Location;
      readonly to: Location;
      readonly quiet: boolean;
    })
  | (Common & { readonly kind: 'ls' | 'stat'; readonly claim: string; readonly path: string })
  | (Common & {
      readonly kind: 'rm';
      readonly claim: string;
      readonly path: string;
      readonly recursive: boolean;
    })
  | (Common & { readonly kind: 'claims' })
  | (Common & {
      readonly kind: 'create';
      readonly claim: ClaimFrom;
      readonly name?: string;
      readonly shutdownAfterSeconds?: number;
    })
  | (Common & { readonly kind: 'delete'; readonly claim: string })
  | (Common & {
      readonly kind: 'ports';
      readonly claim: string;
      readonly port: number;
      readonly preview: boolean;
      readonly ttlSeconds?: number;
    });

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KubeName = z.string().max(253).regex(DNS_SUBDOMAIN, 'must be a Kubernetes name (DNS-1123 subdomain)');
const Namespace = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label');
const Text = z.string().min(1, 'must not be empty');
const RouterUrl = z.string().regex(/^https?:\/\/[^/]/, 'must be an http:// or https:// URL');
const Seconds = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a number of seconds')
  .transform(Number)
  .refine((n) => n > 0, 'must be more than 0 seconds');
const WholeSeconds = z
  .string()
  .regex(/^\d+$/, 'must be a whole number of seconds')
  .transform(Number)
  .refine((n) => n > 0, 'must be more than 0 seconds');
const Port = z
  .string()
  .regex(/^\d+$/, 'must be a port number')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 65535, 'must be from 1 to 65535');
const EnvPair = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/s, 'must be NAME=VALUE');
const Shell = z.enum(['bash', 'zsh'], 'must be bash or zsh');

/** `value` as `schema` reads it, or a UsageError naming `what` (a flag or an argument). */
function check<T>(schema: z.ZodType<T, string>, what: string, value: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const shown = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  throw new UsageError(
    `${what}: ${result.error.issues[0]?.message ?? 'invalid'}, got ${JSON.stringify(shown)}`,
  );
}

type Values = Partial<Record<FlagName, string | boolean | string[]>>;

/** A flag's value, checked; undefined when it was not given. */
function flag<T>(values: Values, name: FlagName, schema: z.ZodType<T, string>): T | undefined {
  const value = values[name];
  return typeof value === 'string' ? check(schema, `--${name}`, value) : undefined;
}

/** Only the keys whose value is defined (the client's options are exact: no `key: undefined`). */
function defined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

function connectionOf(values: Values): Connection {
  return defined({
    kubeconfig: flag(values, 'kubeconfig', Text),
    context: flag(values, 'context', Text),
    namespace: flag(values, 'namespace', Namespace),
    routerUrl: flag(values, 'router-url', RouterUrl),
    gatewayName: flag(values, 'gateway', KubeName),
    gatewayNamespace: flag(values, 'gateway-namespace', Namespace),
    token: flag(values, 'token', Text),
    caFile: flag(values, 'ca-file', Text),
  });
}

function claimFrom(values: Values): ClaimFrom {
  const template = flag(values, 'template', KubeName);
  const pool = flag(values, 'pool', KubeName);
  if (template === undefined && pool === undefined)
    throw new UsageError('--template or --pool: one is required');
  const seconds = flag(values, 'ready-timeout', Seconds);
  return defined({ template, pool, readyTimeoutMs: seconds === undefined ? undefined : seconds * 1000 });
}

function processFlags(values: Values, argv: readonly string[]): ProcessFlags {
  const pairs = (values.env as string[] | undefined) ?? [];
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const text = check(EnvPair, '--env', pair);
    const at = text.indexOf('=');
    env[text.slice(0, at)] = text.slice(at + 1);
  }
  const seconds = flag(values, 'timeout', Seconds);
  return {
    argv,
    stdin: values.stdin === true,
    tty: values.tty === true,
    env,
    ...defined({
      cwd: flag(values, 'workdir', Text),
      timeoutMs: seconds === undefined ? undefined : Math.ceil(seconds * 1000),
    }),
  };
}

/** `CLAIM:PATH` → sandbox; `-` → stdio; anything else (also `./a:b`, `/x:y`) → local. */
export function location(arg: string): Location {
  if (arg === '-') return { kind: 'stdio' };
  const colon = arg.indexOf(':');
  const head = colon > 0 ? arg.slice(0, colon) : '';
  if (colon > 0 && !head.includes('/') && DNS_SUBDOMAIN.test(head))
    return { kind: 'sandbox', claim: head, path: arg.slice(colon + 1) || '.' };
  if (arg === '') throw new UsageError('path: must not be empty');
  return { kind: 'local', path: arg };
}

/** `CLAIM:PATH` (or just `CLAIM` when `optional`, meaning its workspace). */
function sandboxPath(
  arg: string | undefined,
  what: string,
  optional: boolean,
): { claim: string; path: string } {
  if (arg === undefined) throw new UsageError(`${what}: required (CLAIM:PATH)`);
  const where = location(arg);
  if (where.kind === 'sandbox') return { claim: where.claim, path: where.path };
  if (optional && DNS_SUBDOMAIN.test(arg)) return { claim: arg, path: '.' };
  throw new UsageError(`${what}: must be CLAIM:PATH, got ${JSON.stringify(arg)}`);
}

function exactly(args: readonly string[], names: readonly string[], command: string): void {
  if (args.length > names.length)
    throw new UsageError(`${command}: unexpected argument ${JSON.stringify(args[names.length])}`);
  if (args.length < names.length)
    throw new UsageError(`${command}: ${names[args.length] ?? 'an argument'} is required`);
}

type Token =
  | { readonly kind: 'option'; readonly name: string; readonly index: number }
  | { readonly kind: 'positional'; readonly value: string; readonly index: number }
  | { readonly kind: 'option-terminator'; readonly index: number };

interface Parsed {
  readonly values: Values;
  readonly positionals: readonly string[];
  readonly tokens: readonly Token[];
}

/** parseArgs' own errors reworded to name the flag in one short line. */
function parseFlags(argv: readonly string[]): Parsed {
  try {
    const { values, positionals, tokens } = parseArgs({
      args: [...argv],
      options: FLAGS,
      strict: true,
      allowPositionals: true,
      tokens: true,
    });
    return { values: values, positionals, tokens: tokens };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown }).code;
    const named = /'(-{1,2}[^' ,]+)/.exec(message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${named}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw new UsageError(
        /argument missing/.test(message) ? `${named}: needs a value` : `${named}: takes no value`,
      );
    throw new UsageError(message.split('\n')[0] ?? message);
  }
}

export function parseCommand(argv: readonly string[]): CliCommand {
  const { values, positionals, tokens } = parseFlags(argv);
  const terminator = tokens.find((t) => t.kind === 'option-terminator');
  // Positionals before `--` are the CLI's; after it, the command to run.
  const ours = terminator
    ? tokens.flatMap((t) => (t.kind === 'positional' && t.index < terminator.index ? [t.value] : []))
    : positionals;
  const rest = terminator ? positionals.slice(ours.length) : [];
  const given = values;
  const [name, ...args] = ours;
  if (name === undefined) return { kind: 'help', topic: undefined };
  const command = COMMAND_NAMES.find((c) => c === name);
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  const allowed = new Set(flagsOf(command));
  for (const token of tokens) {
    if (token.kind === 'option' && !allowed.has(token.name as FlagName))
      throw new UsageError(`${command}: takes no flag --${token.name}`);
  }
  if (given.help === true) return { kind: 'help', topic: command };
  if (terminator && command !== 'run' && command !== 'exec')
    throw new UsageError(`${command}: takes no -- (only run and exec do)`);
  const common = (): Common => ({ connection: connectionOf(given), json: given.json === true });

  switch (command) {
    case 'help': {
      if (args.length > 1) throw new UsageError(`help: unexpected argument ${JSON.stringify(args[1])}`);
      const topic = args[0] === undefined ? undefined : COMMAND_NAMES.find((c) => c === args[0]);
      if (args[0] !== undefined && !topic) throw new UsageError(`unknown command ${JSON.stringify(args[0])}`);
      return { kind: 'help', topic };
    }
    case 'mcp':
      // main.ts hands `sandbank mcp …` to runMcp before parsing (the server has flags of its own);
      // reached only through runCli, where it shows the MCP server's usage.
      return { kind: 'help', topic: 'mcp' };
    case 'completion':
      exactly(args, ['SHELL'], 'completion');
      return { kind: 'completion', shell: check(Shell, 'SHELL', args[0] ?? '') };
    case 'run':
      if (args.length > 0 || rest.length === 0)
        throw new UsageError('run: the command goes after --, as in: sandbank run --pool P -- CMD');
      return { ...common(), kind: 'run', claim: claimFrom(given), process: processFlags(given, rest) };
    case 'exec':
      if (args.length > 1 || rest.length === 0)
        throw new UsageError('exec: the command goes after --, as in: sandbank exec CLAIM -- CMD');
      exactly(args, ['CLAIM'], 'exec');
      return {
        ...common(),
        kind: 'exec',
        claim: check(KubeName, 'CLAIM', args[0] ?? ''),
        process: processFlags(given, rest),
      };
    case 'cp': {
      exactly(args, ['SRC', 'DST'], 'cp');
      const from = location(args[0] ?? '');
      const to = location(args[1] ?? '');
      if ((from.kind === 'sandbox') === (to.kind === 'sandbox'))
        throw new UsageError('cp: exactly one of SRC and DST must be CLAIM:PATH');
      return { ...common(), kind: 'cp', from, to, quiet: given.quiet === true };
    }
    case 'ls':
    case 'stat': {
      exactly(args, ['CLAIM:PATH'], command);
      return { ...common(), kind: command, ...sandboxPath(args[0], 'CLAIM:PATH', command === 'ls') };
    }
    case 'rm':
      exactly(args, ['CLAIM:PATH'], 'rm');
      return {
        ...common(),
        kind: 'rm',
        ...sandboxPath(args[0], 'CLAIM:PATH', false),
        recursive: given.recursive === true,
      };
    case 'claims':
      exactly(args, [], 'claims');
      return { ...common(), kind: 'claims' };
    case 'create':
      exactly(args, [], 'create');
      return {
        ...common(),
        kind: 'create',
        claim: claimFrom(given),
        ...defined({
          name: flag(given, 'name', KubeName),
          shutdownAfterSeconds: flag(given, 'shutdown-after', WholeSeconds),
        }),
      };
    case 'delete':
      exactly(args, ['CLAIM'], 'delete');
      return { ...common(), kind: 'delete', claim: check(KubeName, 'CLAIM', args[0] ?? '') };
    case 'ports': {
      exactly(args, ['CLAIM', 'PORT'], 'ports');
      const preview = given.preview === true;
      const ttlSeconds = flag(given, 'ttl', WholeSeconds);
      if (ttlSeconds !== undefined && !preview) throw new UsageError('--ttl: only with --preview');
      return {
        ...common(),
        kind: 'ports',
        claim: check(KubeName, 'CLAIM', args[0] ?? ''),
        port: check(Port, 'PORT', args[1] ?? ''),
        preview,
        ...defined({ ttlSeconds }),
      };
    }
  }
}
