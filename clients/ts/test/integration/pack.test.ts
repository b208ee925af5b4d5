/**
 * The package as npm ships it: `npm pack` (its prepack compiles src/ to dist/), the tarball
 * installed into an empty directory outside the workspace, and a plain ESM script there that
 * imports `@sandbank/client` by name, claims a sandbox on the stack, runs a command and exits 0.
 * A workspace-only import (a private `@sandbank/*` package, a file outside dist/) fails here.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@sandbank/e2e';
import { UserProject } from './user-project.js';

const run = promisify(execFile);
const packageDir = join(repoRoot, 'clients', 'ts');

let project: UserProject;
let tarball: string;
let files: string[];

function npm(args: string[], cwd: string): Promise<{ stdout: string }> {
  // The repository's npm cache keeps the install offline-fast; the registry is asked only for what it lacks.
  return run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd,
    timeout: 240_000,
    maxBuffer: 16 << 20,
  });
}

beforeAll(async () => {
  project = new UserProject('sandbank-pack-');
  const [packed] = await Promise.all([
    npm(['pack', '--json', '--pack-destination', project.dir], packageDir),
    project.start(),
  ]);
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  if (!info) throw new Error(`npm pack printed no package: ${packed.stdout}`);
  tarball = join(project.dir, info.filename);
  files = info.files.map((f) => f.path);
}, 300_000);

afterAll(async () => {
  await project?.close();
}, 60_000);

test('the tarball ships the compiled package with its types, and no tests or sources', () => {
  expect(files).toEqual(
    expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']),
  );
  expect(files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md'].includes(f))).toEqual(
    [],
  );
  expect(files.filter((f) => /(^|\/)test\/|\.test\.|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
});

test('installed from the tarball into an empty directory, it claims a sandbox and runs a command', async () => {
  const app = join(project.dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await npm(['install', tarball], app);
  expect(readdirSync(join(app, 'node_modules', '@sandbank'))).toEqual(['client']);

  writeFileSync(
    join(app, 'main.js'),
    `import { Sandbox } from '@sandbank/client';
await using sb = await Sandbox.create({ pool: process.env.POOL, namespace: process.env.NAMESPACE, routerUrl: process.env.ROUTER_URL });
const r = await sb.commands.run(['echo', 'from the tarball']);
process.stdout.write(JSON.stringify({ exitCode: r.exitCode, stdout: r.stdout, mode: sb.mode }));
`,
  );
  const { stack } = project;
  const stdout = await project.node(
    ['main.js'],
    { POOL: stack.pool, NAMESPACE: stack.namespace, ROUTER_URL: stack.routerUrl },
    app,
  );
  expect(JSON.parse(stdout)).toEqual({ exitCode: 0, stdout: 'from the tarball\n', mode: 'direct' });
}, 300_000);
