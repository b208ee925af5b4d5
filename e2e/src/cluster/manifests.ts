// Applies YAML manifests with the built kubectl (server-side apply: CRDs with embedded PodSpec
// schemas exceed the annotation size limit of client-side apply) and waits for CRDs to be served.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { clusterBinary, repoRoot } from './paths.js';
import { run } from './process.js';

export interface ApplyOptions {
  /** How long to wait for applied CRDs to be Established. Default 60 s. */
  timeoutSeconds?: number;
  onProgress?: (line: string) => void;
}

/**
 * `kubectl apply --server-side` of every file or directory in `paths`, then waits until each
 * applied CustomResourceDefinition is Established. Returns the applied objects as `kind.group/name`.
 */
export async function applyManifests(
  kubeconfigPath: string,
  paths: readonly string[],
  opts: ApplyOptions = {},
): Promise<string[]> {
  if (paths.length === 0) return [];
  const kubectl = clusterBinary('kubectl');
  const base = [`--kubeconfig=${kubeconfigPath}`];
  const files = paths.flatMap((path) => ['-f', path]);
  const progress = opts.onProgress ? { onStderrLine: opts.onProgress } : {};
  const { stdout } = await run(
    kubectl,
    [
      ...base,
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager=sandbank-e2e',
      '-o',
      'name',
      ...files,
    ],
    progress,
  );
  const applied = stdout.split('\n').filter((line) => line.trim() !== '');
  const crds = applied.filter((name) => name.startsWith('customresourcedefinition.'));
  if (crds.length > 0) {
    const timeout = `--timeout=${opts.timeoutSeconds ?? 60}s`;
    await run(kubectl, [...base, 'wait', '--for=condition=Established', timeout, ...crds], progress);
  }
  return applied;
}

/** The *.yaml / *.yml files directly in `dir`, sorted; [] if the directory does not exist. */
export function yamlFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

/** The generated CRDs, manifests/base/crds/*.yaml ([] until they are generated). */
export function crdManifests(): string[] {
  return yamlFilesIn(join(repoRoot, 'manifests', 'base', 'crds'));
}
