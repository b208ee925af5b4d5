/**
 * The `sandbank` CLI as processes against the real stack (controller, router with token auth,
 * agent; testing/src/client-stack.ts): exit codes, output and `--json` shapes of every command,
 * files copied both ways intact, Ctrl-C deleting the claim `run` made, and `exec -it` and the
 * progress bar on a pseudo-terminal.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bundleCli,
  runCliProcess,
  runOnPty,
  startClientStack,
  type CliOptions,
  type CliRun,
  type ClientStack,
} from '@sandbank/testing';
import { claimGone } from './claims.js';

let stack: ClientStack;
let bundle: string;
let dir: string;

const connection = (): string[] => [
  '--kubeconfig',
  stack.kubeconfigPath,
  '-n',
  stack.namespace,
  '--router-url',
  stack.routerUrl,
];
const env = (): Record<string, string> => ({ SANDBANK_ROUTER_TOKEN: stack.token });
const cli = (args: readonly string[], options: CliOptions = {}): Promise<CliRun> =>
  runCliProcess(bundle, [...connection(), ...args], { ...options, env: { ...env(), ...options.env } });
const json = (run: CliRun): Record<string, unknown> =>
  JSON.parse(run.stdout.toString('utf8')) as Record<string, unknown>;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const sameBytes = (got: Buffer, want: Buffer): { length: number; firstDifference: number } => {
  const shorter = Math.min(got.length, want.length);
  let firstDifference = -1;
  for (let i = 0; i < shorter && firstDifference < 0; i++) if (got[i] !== want[i]) firstDifference = i;
  if (firstDifference < 0 && got.length !== want.length) firstDifference = shorter;
  return { length: got.length, firstDifference };
};

const gone = (name: string): Promise<unknown> => claimGone(stack.namespace, name);

beforeAll(async () => {
  bundle = bundleCli();
  dir = mkdtempSync(join(tmpdir(), 'sandbank-cli-'));
  stack = await startClientStack();
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
  if (bundle) rmSync(bundle, { force: true });
}, 60_000);

test('a usage error is one line on stderr and exit 2; with --json also an error document', async () => {
  const bad = await runCliProcess(bundle, ['ports', 'my-claim', 'eighty']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toBe('sandbank: PORT: must be a port number, got "eighty"\n');
  expect(bad.stdout.length).toBe(0);

  const unknown = await runCliProcess(bundle, ['ls', '--json', '--recursive', 'c:x']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toBe('sandbank: ls: takes no flag --recursive\n');
  expect(json(unknown)).toEqual({
    error: { code: 'usage', message: 'ls: takes no flag --recursive', exit: 2 },
  });
});

test('run streams the output, exits with the command’s code and deletes its claim', async () => {
  const run = await cli(['run', '--pool', stack.pool, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
  expect(run.stderr).toBe('err\n');
  expect(run.stdout.toString()).toBe('out\n');
  expect(run.code).toBe(7);

  const piped = await cli(['run', '--json', '-i', '--pool', stack.pool, '--', 'cat'], {
    input: 'from stdin',
  });
  expect(piped.code).toBe(0);
  const document = json(piped);
  expect(document).toEqual({
    claim: expect.stringMatching(/^sandbox-claim-[0-9a-f]{8}$/),
    namespace: stack.namespace,
    exitCode: 0,
    signal: null,
    timedOut: false,
    oomKilled: false,
    truncated: false,
    durationMs: expect.any(Number),
    stdout: 'from stdin',
    stderr: '',
  });
  await gone(document['claim'] as string);
}, 120_000);

test('Ctrl-C during run reaches the command, and the claim is deleted (exit 130)', async () => {
  const names = (run: CliRun): Map<string, string> =>
    new Map((json(run)['claims'] as { name: string; state: string }[]).map((c) => [c.name, c.state]));
  const before = names(await cli(['claims', '--json']));
  let interrupted = false;
  const run = await cli(['run', '--pool', stack.pool, '--', 'sh', '-c', 'echo started; exec sleep 60'], {
    started: (child) =>
      child.stdout?.on('data', (chunk: Buffer) => {
        if (!interrupted && chunk.toString().includes('started')) {
          interrupted = true;
          child.kill('SIGINT');
        }
      }),
  });
  expect(interrupted).toBe(true);
  expect(run.code).toBe(130);
  const after = [...names(await cli(['claims', '--json']))].filter(([name]) => !before.has(name));
  for (const [, state] of after) expect(state).toBe('Deleting');
}, 120_000);

test('create, claims, files, cp both ways, ports, exec and delete on one claim', async () => {
  const created = await cli(['create', '--json', '--pool', stack.pool, '--name', 'cli-claim']);
  expect(created.code).toBe(0);
  expect(json(created)).toEqual({
    claim: 'cli-claim',
    namespace: stack.namespace,
    sandbox: expect.any(String),
  });

  const listed = await cli(['claims', '--json']);
  expect(json(listed)).toEqual({
    namespace: stack.namespace,
    claims: expect.arrayContaining([
      expect.objectContaining({ name: 'cli-claim', state: 'Ready', namespace: stack.namespace }),
    ]),
  });
  const table = (await cli(['claims'])).stdout.toString();
  expect(table).toMatch(/^NAME\s+STATE\s+REASON\s+SANDBOX\s+TEMPLATE\s+POOL\s+AGE\n/);
  expect(table).toMatch(/\ncli-claim\s+Ready\s/);

  // 6 MiB of random bytes up, and back down to a file and to stdout.
  const original = randomBytes(6 << 20);
  const local = join(dir, 'big.bin');
  writeFileSync(local, original);
  const up = await cli(['cp', '--json', local, 'cli-claim:data/']);
  expect(up.stderr).toBe('');
  expect(json(up)).toEqual({
    claim: 'cli-claim',
    direction: 'upload',
    source: local,
    destination: 'cli-claim:data/big.bin',
    bytes: original.length,
  });
  const back = join(dir, 'back.bin');
  const down = await cli(['cp', 'cli-claim:data/big.bin', back]);
  expect(down.code).toBe(0);
  expect(sha256(readFileSync(back))).toBe(sha256(original));
  const toStdout = await cli(['cp', 'cli-claim:data/big.bin', '-']);
  expect({ code: toStdout.code, stderr: toStdout.stderr }).toEqual({ code: 0, stderr: '' });
  // Length and first differing byte, not only a hash: a failure says what went wrong.
  expect(sameBytes(toStdout.stdout, original)).toEqual({ length: original.length, firstDifference: -1 });
  const fromStdin = await cli(['cp', '-', 'cli-claim:data/note.txt'], { input: 'a note\n' });
  expect(fromStdin.code).toBe(0);

  const ls = await cli(['ls', 'cli-claim:data']);
  expect(ls.stderr).toBe('');
  expect(ls.stdout.toString()).toMatch(
    /^-rw-r--r--\s+6291456\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+big\.bin\n-rw-r--r--\s+7\s+\S+ \S+\s+note\.txt\n$/,
  );
  expect(json(await cli(['ls', '--json', 'cli-claim:data']))).toEqual({
    claim: 'cli-claim',
    path: 'data',
    entries: [
      expect.objectContaining({ name: 'big.bin', size: original.length, type: 'file' }),
      expect.objectContaining({ name: 'note.txt', size: 7, type: 'file' }),
    ],
  });
  const stat = await cli(['stat', '--json', 'cli-claim:data/note.txt']);
  expect(json(stat)).toEqual(
    expect.objectContaining({
      claim: 'cli-claim',
      path: 'data/note.txt',
      size: 7,
      type: 'file',
      mode: 0o644,
    }),
  );
  expect((await cli(['stat', 'cli-claim:data'])).stdout.toString()).toMatch(/^type:\s+directory$/m);

  const removed = await cli(['rm', '--json', 'cli-claim:data/note.txt']);
  expect(json(removed)).toEqual({ claim: 'cli-claim', path: 'data/note.txt', removed: true });
  const missing = await cli(['stat', 'cli-claim:data/note.txt']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/^sandbank: .+\n$/);
  const notEmpty = await cli(['rm', 'cli-claim:data']);
  expect(notEmpty.code).toBe(1);
  expect((await cli(['rm', '-r', 'cli-claim:data'])).code).toBe(0);

  const url = await cli(['ports', 'cli-claim', '8080']);
  expect(url.stdout.toString()).toBe(
    `${stack.routerUrl}/v1/namespaces/${stack.namespace}/sandboxclaims/cli-claim/ports/8080/\n`,
  );
  const preview = await cli(['ports', '--json', 'cli-claim', '8080', '--preview', '--ttl', '60']);
  expect(preview.code).toBe(0);
  const link = json(preview);
  expect(link).toEqual({
    claim: 'cli-claim',
    port: 8080,
    url: expect.stringMatching(new RegExp(`^${stack.routerUrl}/v1/previews/[^/]+/$`)),
    expiresAt: expect.any(String),
  });
  const expiresIn = Date.parse(String(link['expiresAt'])) - Date.now();
  expect(expiresIn).toBeGreaterThan(0);
  expect(expiresIn).toBeLessThanOrEqual(60_000);

  const exec = await cli([
    'exec',
    '-e',
    'GREETING=hello',
    'cli-claim',
    '--',
    'sh',
    '-c',
    'echo $GREETING; exit 5',
  ]);
  expect(exec.stdout.toString()).toBe('hello\n');
  expect(exec.code).toBe(5);

  const deleted = await cli(['delete', '--json', 'cli-claim']);
  expect(json(deleted)).toEqual({ claim: 'cli-claim', namespace: stack.namespace, deleted: true });
  await gone('cli-claim');
  const again = await cli(['delete', 'cli-claim']);
  expect(again.code).toBe(64);
  expect(again.stderr).toBe(
    `sandbank: SandboxClaim cli-claim failed: NotFound: no SandboxClaim cli-claim in namespace ${stack.namespace}\n`,
  );
}, 240_000);

test('exec -it runs a shell on a terminal: typed input, its size and resizes, the exit code, the terminal restored', async () => {
  const created = await cli(['create', '--pool', stack.pool]);
  const claim = created.stdout.toString().trim();
  try {
    const run = await runOnPty(
      [process.execPath, bundle, 'exec', '-it', ...connection(), claim, '--', 'sh'],
      [
        { send: 'echo "hi-$((40+2))"\n' },
        { expect: 'hi-42' },
        { send: 'stty size\n', until: '30 100' },
        { resize: [50, 132] },
        { send: 'stty size\n', until: '50 132' },
        { send: 'exit 3\n' },
        { expect: 'cli-exit=3' },
      ],
      env(),
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const after = run.screen.slice(run.screen.indexOf('cli-exit=3'));
    // stty -a after the CLI exited: canonical mode and echo are back on.
    expect(after).toMatch(/(^|\s)icanon(\s|$)/);
    expect(after).toMatch(/(^|\s)echo(\s|$)/);
  } finally {
    await cli(['delete', claim]);
  }
}, 120_000);

test('cp draws a progress bar when stderr is a terminal', async () => {
  const created = await cli(['create', '--pool', stack.pool]);
  const claim = created.stdout.toString().trim();
  try {
    const local = join(dir, 'progress.bin');
    writeFileSync(local, randomBytes(3 << 20));
    const run = await runOnPty(
      [process.execPath, bundle, 'cp', ...connection(), local, `${claim}:progress.bin`],
      [{ expect: 'cli-exit=0' }],
      env(),
    );
    expect(run.screen).toMatch(/\[=+\]\s+100%\s+3\.0 MiB\/3\.0 MiB/);
  } finally {
    await cli(['delete', claim]);
  }
}, 120_000);
