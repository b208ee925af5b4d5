/**
 * One TypeScript entry point bundled into one plain JavaScript file with esbuild, npm packages left
 * external (they load from node_modules): what a test or benchmark runs with plain `node`, without
 * a TypeScript loader's start-up and memory in the measured process.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@sandbank/e2e';

export interface BundleOptions {
  /** The entry point (a .ts file). */
  readonly entry: string;
  /** Where the bundle goes. */
  readonly outfile: string;
  /** esbuild's `--target`, e.g. `node24`. */
  readonly target: string;
  /** Workspace packages bundled from their sources (`@sandbank/<name>` → `<name>/src/index.ts`). */
  readonly workspaces?: readonly string[];
}

/** Bundles `entry` into `outfile`; throws with esbuild's message when it fails. Returns `outfile`. */
export function esbuildBundle({ entry, outfile, target, workspaces = [] }: BundleOptions): string {
  const result = spawnSync(
    join(repoRoot, 'node_modules', '.bin', 'esbuild'),
    [
      entry,
      '--bundle',
      '--platform=node',
      '--format=esm',
      `--target=${target}`,
      '--packages=external',
      ...workspaces.map((pkg) => `--alias:@sandbank/${pkg}=${join(repoRoot, pkg, 'src', 'index.ts')}`),
      `--outfile=${outfile}`,
      '--log-level=warning',
    ],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`esbuild failed: ${result.stderr || String(result.error)}`);
  return outfile;
}
