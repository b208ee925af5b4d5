/** The CLI's argument parser, pure: every command, its flags, bad values naming their flag, and `--`. */
import { parseCommand, location } from '../../src/cli/parse.js';
import { UsageError } from '../../src/cli/failures.js';
import { COMMAND_NAMES } from '../../src/cli/spec.js';

const usage = (argv: string[]): string => {
  try {
    parseCommand(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`parsed: ${argv.join(' ')}`);
};

test('run: claim flags, process flags, and the command after -- kept as written', () => {
  expect(
    parseCommand([
      '-n',
      'team-a',
      'run',
      '--pool',
      'py',
      '-it',
      '-e',
      'A=1',
      '--env=B=x=y',
      '-w',
      'src',
      '--timeout',
      '2.5',
      '--ready-timeout',
      '30',
      '--json',
      '--router-url',
      'https://router.example:8443',
      '--',
      'python',
      '-c',
      'print(1)',
      '--json',
    ]),
  ).toEqual({
    kind: 'run',
    json: true,
    connection: { namespace: 'team-a', routerUrl: 'https://router.example:8443' },
    claim: { pool: 'py', readyTimeoutMs: 30_000 },
    process: {
      argv: ['python', '-c', 'print(1)', '--json'],
      stdin: true,
      tty: true,
      env: { A: '1', B: 'x=y' },
      cwd: 'src',
      timeoutMs: 2500,
    },
  });
});

test('run needs --template or --pool and its command after --', () => {
  expect(usage(['run', '--', 'true'])).toBe('--template or --pool: one is required');
  expect(usage(['run', '--pool', 'p'])).toBe(
    'run: the command goes after --, as in: sandbank run --pool P -- CMD',
  );
  expect(usage(['run', '--pool', 'p', 'echo', 'hi'])).toMatch(/^run: the command goes after --/);
});

test('exec takes one claim before -- and every connection flag', () => {
  expect(
    parseCommand([
      'exec',
      '--kubeconfig',
      '/k',
      '--context',
      'dev',
      '--gateway',
      'gw',
      '--gateway-namespace',
      'infra',
      '--token',
      't0k',
      '--ca-file',
      '/ca.pem',
      'my-claim',
      '--',
      'ls',
    ]),
  ).toEqual({
    kind: 'exec',
    json: false,
    claim: 'my-claim',
    connection: {
      kubeconfig: '/k',
      context: 'dev',
      gatewayName: 'gw',
      gatewayNamespace: 'infra',
      token: 't0k',
      caFile: '/ca.pem',
    },
    process: { argv: ['ls'], stdin: false, tty: false, env: {} },
  });
  expect(usage(['exec', '--', 'ls'])).toBe('exec: CLAIM is required');
  expect(usage(['exec', 'a', 'b', '--', 'ls'])).toMatch(/^exec: the command goes after --/);
  expect(usage(['exec', 'Not_A_Name', '--', 'ls'])).toBe(
    'CLAIM: must be a Kubernetes name (DNS-1123 subdomain), got "Not_A_Name"',
  );
});

test('cp: exactly one side in a sandbox; - is stdin or stdout; ./a:b is local', () => {
  expect(parseCommand(['cp', '-q', './a:b', 'c1:dir/'])).toEqual({
    kind: 'cp',
    json: false,
    connection: {},
    quiet: true,
    from: { kind: 'local', path: './a:b' },
    to: { kind: 'sandbox', claim: 'c1', path: 'dir/' },
  });
  expect(parseCommand(['cp', 'c1:', '-'])).toMatchObject({
    from: { kind: 'sandbox', claim: 'c1', path: '.' },
    to: { kind: 'stdio' },
  });
  expect(usage(['cp', 'a', 'b'])).toBe('cp: exactly one of SRC and DST must be CLAIM:PATH');
  expect(usage(['cp', 'c1:a', 'c2:b'])).toBe('cp: exactly one of SRC and DST must be CLAIM:PATH');
  expect(usage(['cp', 'c1:a'])).toBe('cp: DST is required');
  expect(location('/abs/x:y')).toEqual({ kind: 'local', path: '/abs/x:y' });
  expect(location('C:x')).toEqual({ kind: 'local', path: 'C:x' });
});

test('ls (claim alone: its workspace), stat, rm -r', () => {
  expect(parseCommand(['ls', 'c1'])).toEqual({
    kind: 'ls',
    json: false,
    connection: {},
    claim: 'c1',
    path: '.',
  });
  expect(parseCommand(['stat', '--json', 'c1:a/b'])).toEqual({
    kind: 'stat',
    json: true,
    connection: {},
    claim: 'c1',
    path: 'a/b',
  });
  expect(usage(['stat', 'c1'])).toBe('CLAIM:PATH: must be CLAIM:PATH, got "c1"');
  expect(parseCommand(['rm', '-r', 'c1:tmp'])).toEqual({
    kind: 'rm',
    json: false,
    connection: {},
    claim: 'c1',
    path: 'tmp',
    recursive: true,
  });
});

test('claims, create, delete', () => {
  expect(parseCommand(['claims', '-n', 'x'])).toEqual({
    kind: 'claims',
    json: false,
    connection: { namespace: 'x' },
  });
  expect(parseCommand(['create', '--template', 't', '--name', 'mine', '--shutdown-after', '600'])).toEqual({
    kind: 'create',
    json: false,
    connection: {},
    claim: { template: 't' },
    name: 'mine',
    shutdownAfterSeconds: 600,
  });
  expect(usage(['create', '--pool', 'p', '--shutdown-after', '1.5'])).toBe(
    '--shutdown-after: must be a whole number of seconds, got "1.5"',
  );
  expect(parseCommand(['delete', 'c1'])).toEqual({
    kind: 'delete',
    json: false,
    connection: {},
    claim: 'c1',
  });
  expect(usage(['delete'])).toBe('delete: CLAIM is required');
});

test('ports: a port from 1 to 65535; --ttl only with --preview', () => {
  expect(parseCommand(['ports', 'c1', '8080', '--preview', '--ttl', '60'])).toEqual({
    kind: 'ports',
    json: false,
    connection: {},
    claim: 'c1',
    port: 8080,
    preview: true,
    ttlSeconds: 60,
  });
  expect(usage(['ports', 'c1', '0'])).toBe('PORT: must be from 1 to 65535, got "0"');
  expect(usage(['ports', 'c1', '80', '--ttl', '5'])).toBe('--ttl: only with --preview');
});

test('bad flags and values name the flag', () => {
  expect(usage(['claims', '--bogus'])).toBe('unknown flag --bogus');
  expect(usage(['claims', '-n'])).toBe('-n: needs a value');
  expect(usage(['claims', '--json=yes'])).toBe('--json: takes no value');
  expect(usage(['claims', '-n', 'Bad_NS'])).toBe('--namespace: must be a DNS-1123 label, got "Bad_NS"');
  expect(usage(['claims', '--router-url', 'ftp://x'])).toBe(
    '--router-url: must be an http:// or https:// URL, got "ftp://x"',
  );
  expect(usage(['claims', '-r'])).toBe('claims: takes no flag --recursive');
  expect(usage(['run', '--pool', 'p', '-e', '1X=2', '--', 'true'])).toBe(
    '--env: must be NAME=VALUE, got "1X=2"',
  );
  expect(usage(['run', '--pool', 'p', '--timeout', '0', '--', 'true'])).toBe(
    '--timeout: must be more than 0 seconds, got "0"',
  );
  expect(usage(['ls', 'c1', '--', 'x'])).toBe('ls: takes no -- (only run and exec do)');
  expect(usage(['frobnicate'])).toBe('unknown command "frobnicate"');
});

test('help, --help on every command, completion', () => {
  expect(parseCommand([])).toEqual({ kind: 'help', topic: undefined });
  expect(parseCommand(['help', 'cp'])).toEqual({ kind: 'help', topic: 'cp' });
  for (const name of COMMAND_NAMES)
    expect(parseCommand([name, '--help'])).toEqual({ kind: 'help', topic: name });
  expect(parseCommand(['completion', 'zsh'])).toEqual({ kind: 'completion', shell: 'zsh' });
  expect(usage(['completion', 'fish'])).toBe('SHELL: must be bash or zsh, got "fish"');
});
