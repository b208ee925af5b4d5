/**
 * Writes manifests/base/crds/*.yaml from the zod schemas in api/src (`make generate`).
 * `--check` writes nothing and exits 1 when a checked-in file differs from what would be written.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderAllCrds } from './crd/files.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const check = process.argv.includes('--check');

const files = renderAllCrds(repoRoot);
let stale = 0;
for (const { path, content } of files) {
  const shown = relative(process.cwd(), path);
  if (check) {
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== content) {
      stale += 1;
      console.error(`stale: ${shown}`);
    }
    continue;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  console.log(`wrote ${shown} (${Math.round(content.length / 1024)} KiB)`);
}
if (stale > 0) {
  console.error(`${stale} CRD file(s) are stale: run 'make generate' and commit the result.`);
  process.exit(1);
}
