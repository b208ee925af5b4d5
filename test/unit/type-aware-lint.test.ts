/**
 * `make lint` runs ESLint with type information (eslint.config.js: strictTypeChecked through the
 * TypeScript project service). This plants a floating promise, a `void`-ed promise chain without a
 * rejection path and a switch that misses a member of its union in a scratch project, lints it
 * with the repo's real config, and checks that each is reported — and that the handled forms pass
 * — so the rules cannot silently rot (or silently stop seeing types).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const eslint = join(repoRoot, 'node_modules', 'eslint', 'bin', 'eslint.js');

interface Message {
  readonly ruleId: string | null;
  readonly severity: number;
  readonly line: number;
  readonly message: string;
}

const prelude = `export type Phase = 'pending' | 'running' | 'done';
export async function work(): Promise<number> {
  await Promise.resolve();
  return 1;
}
`;

const planted: Record<string, string> = {
  'clean.ts': `${prelude}
export async function awaited(): Promise<number> {
  return await work();
}
export function handled(log: (e: unknown) => void): void {
  work().catch(log);
  work().then(
    (n) => log(n),
    (e: unknown) => log(e),
  );
}
export function label(p: Phase): string {
  switch (p) {
    case 'pending':
      return 'waiting';
    case 'running':
      return 'busy';
    case 'done':
      return 'finished';
  }
}
`,
  'floating.ts': `${prelude}
export function start(): void {
  work();
}
`,
  'void-then.ts': `${prelude}
export function start(log: (n: number) => void): void {
  void work().then(log);
}
`,
  'switch.ts': `${prelude}
export function label(p: Phase): string {
  switch (p) {
    case 'pending':
      return 'waiting';
    case 'running':
      return 'busy';
  }
  return 'unknown';
}
`,
};

let results: Record<string, readonly Message[]> = {};

beforeAll(() => {
  // A scratch project with its own tsconfig.json: the project service gives every planted file
  // its types from there, while the rules come from the repo's eslint.config.js.
  const dir = mkdtempSync(join(tmpdir(), 'type-aware-lint-'));
  try {
    const tsconfig = {
      compilerOptions: {
        target: 'ES2023',
        lib: ['ES2023'],
        module: 'Node16',
        moduleResolution: 'Node16',
        strict: true,
        noEmit: true,
        types: [],
      },
      include: ['*.ts'],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    for (const [name, content] of Object.entries(planted)) writeFileSync(join(dir, name), content);
    let output: string;
    try {
      output = execFileSync(
        process.execPath,
        [eslint, '--config', join(repoRoot, 'eslint.config.js'), '--format', 'json', ...Object.keys(planted)],
        { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
    } catch (error) {
      // Exit status 1: lint errors were found, the report is still on stdout.
      const e = error as { status?: number | null; stdout?: string; stderr?: string };
      if (e.status !== 1) throw new Error(`eslint failed (${String(e.status)}): ${e.stderr ?? ''}`);
      output = e.stdout ?? '';
    }
    const report = JSON.parse(output) as { filePath: string; messages: Message[] }[];
    results = Object.fromEntries(report.map((r) => [r.filePath.slice(dir.length + 1), r.messages]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);

const rulesOf = (file: string): (string | null)[] => (results[file] ?? []).map((m) => m.ruleId);
/** The 1-based line of `file` that contains `text`. */
const lineOf = (file: string, text: string): number =>
  (planted[file] ?? '').split('\n').findIndex((l) => l.includes(text)) + 1;

it('passes awaited promises, promises with a rejection path and an exhaustive switch', () => {
  expect(Object.keys(results).sort()).toEqual(Object.keys(planted).sort());
  // Also proves the planted files were linted with types: otherwise every file has a parse error.
  expect(results['clean.ts']).toEqual([]);
});

it('fails on a planted floating promise', () => {
  expect(rulesOf('floating.ts')).toEqual(['@typescript-eslint/no-floating-promises']);
  expect(results['floating.ts']?.[0]).toMatchObject({
    severity: 2,
    line: lineOf('floating.ts', '  work();'),
  });
});

it('fails on `void p.then(...)` without a rejection path (`void` does not handle a promise)', () => {
  expect(rulesOf('void-then.ts')).toEqual(['@typescript-eslint/no-floating-promises']);
  expect(results['void-then.ts']?.[0]).toMatchObject({
    severity: 2,
    line: lineOf('void-then.ts', 'void work()'),
  });
});

it('fails on a switch that misses a member of its union', () => {
  expect(rulesOf('switch.ts')).toEqual(['@typescript-eslint/switch-exhaustiveness-check']);
  expect(results['switch.ts']?.[0]?.message).toContain('done');
});
