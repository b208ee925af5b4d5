/**
 * Renders the kustomizations under manifests/ (and examples/) with the pinned `kubectl kustomize`
 * and gives typed access to the objects.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { clusterBinary } from '@sandbank/e2e';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export type Obj = Record<string, unknown>;

/** Every kustomization a user applies, relative to the repository root. */
export const OVERLAYS = [
  'manifests/base',
  'manifests/overlays/local',
  'manifests/overlays/local/examples',
  'manifests/overlays/gke-autopilot',
  'manifests/overlays/gke-standard',
  'manifests/test/fixtures/gke-autopilot-gateway',
  'manifests/test/fixtures/cert-manager',
  'manifests/test/fixtures/per-namespace-router',
  'manifests/test/fixtures/agent-sandbox-compat',
  'manifests/components/agent-sandbox-compat',
  'manifests/overlays/local/agent-sandbox-compat',
  'manifests/namespace-router',
  'examples/python-runtime',
  'examples/gke-standard',
] as const;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): Obj {
  return isObj(v) ? v : {};
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** `kubectl kustomize <dir>` as text. */
export function renderText(dir: string): string {
  return execFileSync(clusterBinary('kubectl'), ['kustomize', join(repoRoot, dir)], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
}

export function parseObjects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter(isObj);
}

export function render(dir: string): Obj[] {
  return parseObjects(renderText(dir));
}

export function kindOf(o: Obj): string {
  return str(o['kind']);
}

export function nameOf(o: Obj): string {
  return str(obj(o['metadata'])['name']);
}

export interface PodSpecAt {
  /** `Kind/name` of the object that holds the pod spec. */
  readonly owner: string;
  readonly spec: Obj;
  /** True for sandbox pods (from a SandboxTemplate). */
  readonly sandbox: boolean;
}

/** Pod specs of workloads and SandboxTemplates. */
export function podSpecs(objects: readonly Obj[]): PodSpecAt[] {
  const out: PodSpecAt[] = [];
  for (const o of objects) {
    const kind = kindOf(o);
    const spec = obj(o['spec']);
    const owner = `${kind}/${nameOf(o)}`;
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(kind)) {
      out.push({ owner, spec: obj(obj(spec['template'])['spec']), sandbox: false });
    } else if (kind === 'Pod') {
      out.push({ owner, spec, sandbox: false });
    } else if (kind === 'SandboxTemplate') {
      out.push({ owner, spec: obj(obj(spec['podTemplate'])['spec']), sandbox: true });
    }
  }
  return out;
}

export function containersOf(spec: Obj): Obj[] {
  return [...arr(spec['initContainers']), ...arr(spec['containers'])].filter(isObj);
}

/**
 * The objects for a server-side dry-run against the integration control plane: its CRDs'
 * conversion points at the run's webhook by URL (it has no cluster network for the Service the
 * rendered CRDs name), and a re-applied Service reference would sit beside that URL, which the
 * API server refuses. So CRDs go without `spec.conversion`; every other field is still checked
 * (api/test/integration/crd-versions.test.ts dry-runs the conversion stanza itself).
 */
export function forDryRun(objects: readonly Obj[]): Obj[] {
  return objects.map((o) => {
    if (kindOf(o) !== 'CustomResourceDefinition') return o;
    const spec = { ...obj(o['spec']) };
    delete spec['conversion'];
    return { ...o, spec };
  });
}
