/**
 * Bundles one of Sandbank's processes (its src/main.ts and everything it imports, the
 * @sandbank/api, @sandbank/kube and @sandbank/proto TypeScript sources included) into one ESM
 * file: what the images carry, with no node_modules. One file also loads faster and keeps idle
 * memory lower than hundreds of modules would, and the images stay small.
 *
 *   node runtime-image/scripts/bundle.mjs [outfile] [--process agent|controller|router]
 *
 * Defaults: the agent, into <package>/dist/<process>.mjs. `controller` also writes webhook.mjs
 * (controller/src/webhook/main.ts) beside the outfile, the agent ws-echo.mjs
 * (runtime-image/src/ws-echo/main.ts). Used by both Dockerfiles (registry
 * builds) and by e2e/cluster/build-sandbank-images.sh (local builds, on the host).
 */
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const packages = { agent: 'runtime-image', controller: 'controller', router: 'router' };

const args = process.argv.slice(2);
const flag = args.indexOf('--process');
const name = flag === -1 ? 'agent' : args.splice(flag, 2)[1];
const outArg = args[0];
const dir = packages[name];
if (!dir || args.length > 1) {
  process.stderr.write(`usage: bundle.mjs [outfile] [--process ${Object.keys(packages).join('|')}]\n`);
  process.exit(2);
}
const outfile = outArg ?? join(repo, dir, 'dist', `${name}.mjs`);

/** Our workspaces from their TypeScript sources, so no image needs a separate tsc build. */
const workspacesFromSource = {
  name: 'sandbank-workspaces-from-source',
  setup(b) {
    b.onResolve({ filter: /^@sandbank\/(api|proto|kube)$/ }, (args) => ({
      path: join(repo, args.path.slice('@sandbank/'.length), 'src', 'index.ts'),
    }));
  },
};

// Second programs bundled beside the process, from <package>/src/<dir>/main.ts: the controller
// image's conversion webhook (its own Deployment) and the runtime image's WebSocket echo server
// (for sandboxed code: sandbank-ws-echo).
const companions = { controller: ['webhook'], agent: ['ws-echo'], router: [] };
const entries = [[join(repo, dir, 'src', 'main.ts'), outfile]];
for (const companion of companions[name])
  entries.push([join(repo, dir, 'src', companion, 'main.ts'), join(dirname(outfile), `${companion}.mjs`)]);

for (const [entry, out] of entries)
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    plugins: [workspacesFromSource],
    minify: process.env['SANDBANK_BUNDLE_NO_MINIFY'] !== '1',
    legalComments: 'linked',
    // Some bundled CommonJS dependencies call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __sbkCreateRequire } from 'node:module'; const require = __sbkCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
