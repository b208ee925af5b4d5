// CRDs of other projects that the manifests' dry-run needs, copied out of their Go modules into
// the cache by a script of e2e/cluster (lib/module-crds.sh): once per version, then a no-op that
// prints the directory.
// - the Gateway API standard CRDs (sigs.k8s.io/gateway-api at GATEWAY_API_VERSION of
//   e2e/cluster/versions.env): fetch-gateway-api-crds.sh;
// - cert-manager's CRDs (github.com/cert-manager/cert-manager at CERT_MANAGER_VERSION):
//   fetch-cert-manager-crds.sh.
import { join } from 'node:path';
import { yamlFilesIn } from './manifests.js';
import { clusterDir } from './paths.js';
import { run } from './process.js';

export interface GatewayApiCrdOptions {
  onProgress?: (line: string) => void;
}

/** The Gateway API CRD files (absolute paths), fetched from the module proxy first if not cached yet. */
export function gatewayApiCrdManifests(opts: GatewayApiCrdOptions = {}): Promise<string[]> {
  return fetchedCrds('fetch-gateway-api-crds.sh', opts);
}

/** cert-manager's CRD files (absolute paths), fetched from the module proxy first if not cached yet. */
export function certManagerCrdManifests(opts: GatewayApiCrdOptions = {}): Promise<string[]> {
  return fetchedCrds('fetch-cert-manager-crds.sh', opts);
}

async function fetchedCrds(script: string, opts: GatewayApiCrdOptions): Promise<string[]> {
  const progress = opts.onProgress ? { onStderrLine: opts.onProgress } : {};
  const { stdout } = await run('bash', [join(clusterDir, script)], progress);
  const dir = stdout.trim();
  const files = yamlFilesIn(dir);
  if (files.length === 0) throw new Error(`${script} printed ${dir}, which has no CRDs`);
  return files;
}
