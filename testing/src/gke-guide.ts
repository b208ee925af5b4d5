/**
 * The SandboxTemplate and SandboxWarmPool of the GKE Agent Sandbox guide, unchanged: the API's
 * tests check that it parses and that the API server accepts it, the controller's journey runs it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** The YAML file itself, for `kubectl apply -f`. */
export const gkeGuideFile = fileURLToPath(new URL('../fixtures/gke-guide.yaml', import.meta.url));

/** Its documents as plain objects, in file order (the template first). */
export function gkeGuideObjects(): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(gkeGuideFile, 'utf8')).map(
    (d) => d.toJSON() as Record<string, unknown>,
  );
}
