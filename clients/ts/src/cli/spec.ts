/**
 * The CLI's vocabulary in one table: every command, every flag and which commands take it. The
 * parser, `--help` and the shell completions all read it, so they cannot disagree. A short flag
 * means the same thing wherever it is accepted (one node:util parseArgs table serves every command).
 */

export const COMMAND_NAMES = [
  'run',
  'exec',
  'cp',
  'ls',
  'stat',
  'rm',
  'claims',
  'create',
  'delete',
  'ports',
  'mcp',
  'completion',
  'help',
] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface CommandSpec {
  readonly usage: string;
  readonly summary: string;
}

export const COMMANDS: Readonly<Record<CommandName, CommandSpec>> = {
  run: {
    usage: 'run [--template T | --pool P] [-i] [-t] [-e K=V]… [-w DIR] [--timeout S] -- CMD [ARG…]',
    summary: 'claim a sandbox, run CMD, print its output, delete the claim; exits with its code',
  },
  exec: {
    usage: 'exec [-i] [-t] [-e K=V]… [-w DIR] [--timeout S] CLAIM -- CMD [ARG…]',
    summary: 'run CMD in an existing claim (-it: on a terminal); exits with its code',
  },
  cp: {
    usage: 'cp [-q] SRC DST   (one of them CLAIM:PATH, the other a local path or - for stdin/stdout)',
    summary: 'copy a file into or out of a sandbox, streamed',
  },
  ls: { usage: 'ls CLAIM[:PATH]', summary: 'list a directory of the sandbox (default: its workspace)' },
  stat: { usage: 'stat CLAIM:PATH', summary: 'describe a file of the sandbox' },
  rm: { usage: 'rm [-r] CLAIM:PATH', summary: 'remove a file (a directory with -r)' },
  claims: { usage: 'claims', summary: 'list the claims of the namespace with their state' },
  create: {
    usage: 'create [--template T | --pool P] [--name N] [--shutdown-after S] [--ready-timeout S]',
    summary: 'claim a sandbox, wait until it is Ready and print its name',
  },
  delete: { usage: 'delete CLAIM', summary: 'delete a claim (its sandbox goes with it)' },
  ports: {
    usage: 'ports CLAIM PORT [--preview [--ttl S]]',
    summary: "print the router's URL of a sandbox port, or a signed preview link",
  },
  mcp: {
    usage: 'mcp [--http PORT] [--template T | --pool P] …   (sandbank mcp --help lists its flags)',
    summary: 'serve MCP tools (run, files, port previews) on one claim per session, over stdio or HTTP',
  },
  completion: { usage: 'completion bash|zsh', summary: 'print a shell completion script' },
  help: { usage: 'help [COMMAND]', summary: 'show help' },
};

/** Commands that reach a cluster take the connection flags: all but these (mcp reads its own flags). */
const LOCAL_COMMANDS: readonly CommandName[] = ['mcp', 'completion', 'help'];
const CLUSTER_COMMANDS: readonly CommandName[] = COMMAND_NAMES.filter(
  (name) => !LOCAL_COMMANDS.includes(name),
);
const PROCESS_COMMANDS: readonly CommandName[] = ['run', 'exec'];

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Commands that take it; `all`: every command, `help` included. */
  readonly commands: readonly CommandName[] | 'all';
  /** The value's name in help (string flags). */
  readonly value?: string;
  readonly help: string;
}

export const FLAGS = {
  help: { type: 'boolean', short: 'h', commands: 'all', help: 'show help' },
  json: {
    type: 'boolean',
    commands: CLUSTER_COMMANDS,
    help: 'print one JSON document on stdout (errors too)',
  },
  kubeconfig: {
    type: 'string',
    commands: CLUSTER_COMMANDS,
    value: 'FILE',
    help: 'kubeconfig file (default $KUBECONFIG, ~/.kube/config)',
  },
  context: { type: 'string', commands: CLUSTER_COMMANDS, value: 'NAME', help: 'kubeconfig context' },
  namespace: {
    type: 'string',
    short: 'n',
    commands: CLUSTER_COMMANDS,
    value: 'NS',
    help: "the claims' namespace (default: default)",
  },
  'router-url': {
    type: 'string',
    commands: CLUSTER_COMMANDS,
    value: 'URL',
    help: 'reach the router at this URL (default: a port-forward to it)',
  },
  gateway: {
    type: 'string',
    commands: CLUSTER_COMMANDS,
    value: 'NAME',
    help: 'reach the router through this Gateway',
  },
  'gateway-namespace': {
    type: 'string',
    commands: CLUSTER_COMMANDS,
    value: 'NS',
    help: "the Gateway's namespace (default: default)",
  },
  token: {
    type: 'string',
    commands: CLUSTER_COMMANDS,
    value: 'TOKEN',
    help: 'router token (default $SANDBANK_ROUTER_TOKEN)',
  },
  'ca-file': {
    type: 'string',
    commands: CLUSTER_COMMANDS,
    value: 'FILE',
    help: 'CA bundle that verifies the router (default $SANDBANK_CA_FILE)',
  },
  template: {
    type: 'string',
    commands: ['run', 'create'],
    value: 'NAME',
    help: 'SandboxTemplate to claim from',
  },
  pool: {
    type: 'string',
    commands: ['run', 'create'],
    value: 'NAME',
    help: 'SandboxWarmPool to take a warm sandbox from (none: cold start)',
  },
  'ready-timeout': {
    type: 'string',
    commands: ['run', 'create'],
    value: 'S',
    help: 'seconds to wait until the claim is Ready (default 180)',
  },
  stdin: { type: 'boolean', short: 'i', commands: PROCESS_COMMANDS, help: 'pass stdin to the command' },
  tty: {
    type: 'boolean',
    short: 't',
    commands: PROCESS_COMMANDS,
    help: 'run on a terminal (raw mode, resized with yours)',
  },
  env: {
    type: 'string',
    short: 'e',
    multiple: true,
    commands: PROCESS_COMMANDS,
    value: 'K=V',
    help: 'environment variable of the command (repeatable)',
  },
  workdir: {
    type: 'string',
    short: 'w',
    commands: PROCESS_COMMANDS,
    value: 'DIR',
    help: 'working directory (relative to the workspace)',
  },
  timeout: {
    type: 'string',
    commands: PROCESS_COMMANDS,
    value: 'S',
    help: 'seconds after which the sandbox kills the command',
  },
  quiet: { type: 'boolean', short: 'q', commands: ['cp'], help: 'no progress bar' },
  recursive: { type: 'boolean', short: 'r', commands: ['rm'], help: 'remove a directory and its contents' },
  name: { type: 'string', commands: ['create'], value: 'NAME', help: "the claim's name" },
  'shutdown-after': {
    type: 'string',
    commands: ['create'],
    value: 'S',
    help: 'the claim deletes itself this many seconds after creation',
  },
  preview: {
    type: 'boolean',
    commands: ['ports'],
    help: 'print a signed link a browser opens without the token',
  },
  ttl: { type: 'string', commands: ['ports'], value: 'S', help: "the preview link's lifetime in seconds" },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;

export function flagsOf(command: CommandName): FlagName[] {
  return (Object.keys(FLAGS) as FlagName[]).filter((name) => {
    const spec: FlagSpec = FLAGS[name];
    return spec.commands === 'all' || spec.commands.includes(command);
  });
}

/** `--name`, with its short form: `-n, --namespace`. */
export function flagLabel(name: FlagName): string {
  const spec: FlagSpec = FLAGS[name];
  const long = `--${name}${spec.value ? ` ${spec.value}` : ''}`;
  return spec.short ? `-${spec.short}, ${long}` : long;
}
