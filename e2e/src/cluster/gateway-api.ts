// The Gateway API standard CRDs (sigs.k8s.io/gateway-api at GATEWAY_API_VERSION of
// e2e/cluster/versions.env), copied out of the Go module into the cache by
// e2e/cluster/fetch-gateway-api-crds.sh: once per version, then a no-op that prints the directory.
import { join } from 'node:path';
import { yamlFilesIn } from './manifests.js';
import { clusterDir } from './paths.js';
import { run } from './process.js';

export interface GatewayApiCrdOptions {
  onProgress?: (line: string) => void;
}

/** The CRD files (absolute paths), fetched from the module proxy first if not cached yet. */
export async function gatewayApiCrdManifests(opts: GatewayApiCrdOptions = {}): Promise<string[]> {
  const progress = opts.onProgress ? { onStderrLine: opts.onProgress } : {};
  const { stdout } = await run('bash', [join(clusterDir, 'fetch-gateway-api-crds.sh')], progress);
  const dir = stdout.trim();
  const files = yamlFilesIn(dir);
  if (files.length === 0) throw new Error(`fetch-gateway-api-crds.sh printed ${dir}, which has no CRDs`);
  return files;
}
