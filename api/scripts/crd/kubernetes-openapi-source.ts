/**
 * Loads the OpenAPI v3 definitions of the Kubernetes version we build, from the k8s.io/kubernetes
 * Go module (the same download the control-plane build uses; `go` fetches it through the module
 * proxy once and caches it). Pinned by e2e/cluster/versions.env, so the CRDs always embed the
 * PodSpec of the Kubernetes we test against.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Definitions, JsonSchema } from './openapi.js';

const DOCUMENTS = ['api__v1_openapi.json', 'apis__networking.k8s.io__v1_openapi.json'];

export function kubernetesVersion(versionsFile: string): string {
  const match = /^KUBERNETES_VERSION=(\S+)$/m.exec(readFileSync(versionsFile, 'utf8'));
  if (!match?.[1]) throw new Error(`${versionsFile} does not set KUBERNETES_VERSION`);
  return match[1];
}

export function loadKubernetesDefinitions(version: string): Definitions {
  let dir: string;
  try {
    const out = execFileSync('go', ['mod', 'download', '-json', `k8s.io/kubernetes@${version}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    dir = (JSON.parse(out) as { Dir?: string }).Dir ?? '';
  } catch (error) {
    throw new Error(
      `could not fetch k8s.io/kubernetes@${version} with Go (needed for the PodSpec schema): ${String(error)}`,
    );
  }
  const definitions: Record<string, JsonSchema> = {};
  for (const doc of DOCUMENTS) {
    const parsed = JSON.parse(readFileSync(join(dir, 'api', 'openapi-spec', 'v3', doc), 'utf8')) as {
      components: { schemas: Record<string, JsonSchema> };
    };
    Object.assign(definitions, parsed.components.schemas);
  }
  return definitions;
}
