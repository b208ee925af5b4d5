/**
 * Bundles the agent (src/main.ts and everything it imports, @sandbank/proto's TypeScript
 * sources included) into one ESM file, dist/agent.mjs: what the runtime image carries, with no
 * node_modules. One file also loads faster and keeps the agent's idle memory lower than
 * hundreds of modules would.
 */
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = process.argv[2] ?? join(root, 'dist', 'agent.mjs');

/** @sandbank/proto from its TypeScript sources, so the image needs no separate proto build. */
const protoFromSource = {
  name: 'sandbank-proto-source',
  setup(b) {
    b.onResolve({ filter: /^@sandbank\/proto$/ }, () => ({
      path: join(root, '..', 'proto', 'src', 'index.ts'),
    }));
  },
};

await build({
  entryPoints: [join(root, 'src', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  plugins: [protoFromSource],
  minify: process.env['SANDBANK_BUNDLE_NO_MINIFY'] !== '1',
  legalComments: 'linked',
  // Some bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __sbkCreateRequire } from 'node:module'; const require = __sbkCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
