/**
 * CRDs sent through kubectl, not the typed ApiextensionsV1Api: that client serializes a plain JSON
 * body through its model classes, whose schema properties are named `_default`, `_enum`,
 * `xKubernetesValidations`, …, so a rendered CRD's `default`, `enum` and CEL rules would be
 * dropped silently and the server would judge a different schema.
 */
import { execFileSync } from 'node:child_process';
import { clusterBinary } from '@sandbank/e2e';
import type { CustomResourceDefinition } from '../../scripts/crd/render.js';

function kubectl(args: readonly string[], input?: string): string {
  const kubeconfig = process.env['SANDBANK_KUBECONFIG'];
  if (!kubeconfig)
    throw new Error('SANDBANK_KUBECONFIG is not set: run this suite in the jest `integration` project');
  return execFileSync(clusterBinary('kubectl'), [`--kubeconfig=${kubeconfig}`, ...args], {
    encoding: 'utf8',
    // A two-version CRD echoed back as JSON is several MiB (two embedded PodSpecs).
    maxBuffer: 64 * 1024 * 1024,
    ...(input === undefined ? {} : { input }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Creates `crd` (or only asks the server to validate it, `dryRun`) and returns what the server answered. */
export function createCrd(
  crd: CustomResourceDefinition,
  opts: { dryRun?: boolean } = {},
): Record<string, unknown> {
  const args = ['create', '-f', '-', '-o', 'json', ...(opts.dryRun ? ['--dry-run=server'] : [])];
  return JSON.parse(kubectl(args, JSON.stringify(crd))) as Record<string, unknown>;
}

export function waitEstablished(names: readonly string[]): void {
  if (names.length === 0) return;
  kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names.map((n) => `crd/${n}`)]);
}

export function deleteCrds(names: readonly string[]): void {
  if (names.length === 0) return;
  kubectl(['delete', '--ignore-not-found', '--wait=false', ...names.map((n) => `crd/${n}`)]);
}

/** `crd` moved to another API group (so a test never touches the shared control plane's CRDs). */
export function inGroup(crd: CustomResourceDefinition, group: string): CustomResourceDefinition {
  const plural = (crd.spec.names as { plural: string }).plural;
  return { ...crd, metadata: { ...crd.metadata, name: `${plural}.${group}` }, spec: { ...crd.spec, group } };
}
