/**
 * The import rules of the design are enforced by dependency-cruiser (`make lint`). This plants
 * violations in a scratch tree laid out like the repo and checks that the real rule set catches
 * each one — and passes a tree that keeps the rules — so the rules cannot silently rot.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const depcruise = join(repoRoot, 'node_modules', '.bin', 'depcruise');

function cruise(files: Record<string, string>): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'layering-'));
  try {
    const tree: Record<string, string> = {
      'tsconfig.json': JSON.stringify({
        compilerOptions: { module: 'Node16', moduleResolution: 'Node16', allowJs: true },
      }),
      ...files,
    };
    for (const [path, content] of Object.entries(tree)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    const roots = [...new Set(Object.keys(files).map((p) => p.split('/')[0] as string))];
    try {
      const output = execFileSync(
        depcruise,
        ['--config', join(repoRoot, '.dependency-cruiser.cjs'), ...roots],
        {
          cwd: dir,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      return { ok: true, output };
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string };
      return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const clean = {
  'api/src/index.ts': 'export const a = 1;\n',
  'controller/src/reconcilers/sandbox/plan.ts':
    "import { a } from '../../../../api/src/index.js';\nexport const p = a;\n",
  'controller/src/reconcilers/sandbox/index.ts': "import { p } from './plan.js';\nexport const r = p;\n",
  'controller/src/runtime/queue.ts': 'export const q = 1;\n',
  'router/src/app.ts': "import { a } from '../../api/src/index.js';\nexport const app = a;\n",
  'testing/src/index.ts': 'export const t = 1;\n',
  'router/test/helpers/agent.ts': 'export const h = 1;\n',
  'router/test/unit/app.test.ts':
    "import { t } from '../../../testing/src/index.js';\nimport { h } from '../helpers/agent.js';\nexport const u = t + h;\n",
};

it('passes a tree that keeps the rules', () => {
  const result = cruise(clean);
  expect(result.output).toContain('no dependency violations found');
  expect(result.ok).toBe(true);
});

it.each([
  [
    'api-is-pure',
    { 'api/src/bad.ts': "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n" },
  ],
  [
    'plan-is-pure',
    {
      'controller/src/kube/client.ts': 'export const k = 1;\n',
      'controller/src/reconcilers/sandbox/plan.ts':
        "import { k } from '../../kube/client.js';\nexport const p = k;\n",
    },
  ],
  [
    'runtime-does-not-know-reconcilers',
    {
      'controller/src/runtime/queue.ts':
        "import { r } from '../reconcilers/sandbox/index.js';\nexport const q = r;\n",
    },
  ],
  [
    'router-stays-in-its-lane',
    {
      'controller/src/x.ts': 'export const x = 1;\n',
      'router/src/app.ts': "import { x } from '../../controller/src/x.js';\nexport const app = x;\n",
    },
  ],
  [
    'kube-stays-in-its-lane',
    {
      'controller/src/x.ts': 'export const x = 1;\n',
      'kube/src/client.ts': "import { x } from '../../controller/src/x.js';\nexport const k = x;\n",
    },
  ],
  [
    'testing-only-from-tests',
    { 'router/src/app.ts': "import { t } from '../../testing/src/index.js';\nexport const app = t;\n" },
  ],
  [
    'no-reaching-into-another-packages-tests',
    {
      'bench/benchmarks/b.bench.ts':
        "import { h } from '../../router/test/helpers/agent.js';\nexport const b = h;\n",
    },
  ],
  [
    'proto-gen-only-through-proto',
    {
      'proto/gen/ts/a_pb.ts': 'export const m = 1;\n',
      'router/src/agent.ts': "import { m } from '../../proto/gen/ts/a_pb.js';\nexport const g = m;\n",
    },
  ],
])('fails on a planted %s violation', (rule, planted) => {
  const result = cruise({ ...clean, ...planted });
  expect(result.ok).toBe(false);
  expect(result.output).toContain(rule);
});
