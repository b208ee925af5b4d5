/**
 * Every TypeScript example of the package README and of the repository README type-checks, under
 * the project's strict settings, against the client's sources: an example that names a method,
 * option or field the client does not have fails here. A fragment (one without its own import)
 * gets the imports it uses and a `sb` handle declared; the quickstart also runs
 * (test/integration/readme-quickstart.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '@sandbank/e2e';

const READMES = [join(repoRoot, 'clients', 'ts', 'README.md'), join(repoRoot, 'README.md')];

/** What a fragment may use without importing it. */
const FRAGMENT_PREAMBLE = `import { Sandbox } from '@sandbank/client';
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
declare const sb: Sandbox;
`;

function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}

test('every ts example of the READMEs type-checks against the client', () => {
  const files = new Map<string, string>();
  for (const readme of READMES) {
    tsBlocks(readFileSync(readme, 'utf8')).forEach((block, i) => {
      const source = /^import .* from '@sandbank\/client';$/m.test(block) ? block : FRAGMENT_PREAMBLE + block;
      // Beside the client, so `node:` types and packages resolve from the repository's node_modules.
      const name = join(repoRoot, 'clients', 'ts', `readme-example-${files.size}.mts`);
      files.set(name, `${source}\nexport {};\n// ${readme} block ${i}\n`);
    });
  }
  expect(files.size).toBeGreaterThanOrEqual(6);

  const options: ts.CompilerOptions = {
    noEmit: true,
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts'],
    types: ['node'],
    baseUrl: repoRoot,
    paths: { '@sandbank/client': ['./clients/ts/src/index.ts'] },
  };
  const base = ts.createCompilerHost(options);
  const host: ts.CompilerHost = {
    ...base,
    fileExists: (name) => files.has(name) || base.fileExists(name),
    readFile: (name) => files.get(name) ?? base.readFile(name),
    getSourceFile: (name, language, ...rest) => {
      const text = files.get(name);
      return text === undefined
        ? base.getSourceFile(name, language, ...rest)
        : ts.createSourceFile(name, text, language);
    },
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const problems = ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.formatDiagnostic(d, { ...host, getNewLine: () => '\n' }));
  expect(problems).toEqual([]);
}, 120_000);
