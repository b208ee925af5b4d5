/**
 * Every overlay, component and example renders and passes server-side dry-run against the real
 * kube-apiserver (built-in types and our CRDs). Namespaces are created for real first (a dry-run
 * of a namespaced object needs its namespace). Gateway API and GKE HealthCheckPolicy CRDs are not
 * on the test apiserver: those objects are dry-run only when their CRDs exist, otherwise they are
 * checked statically by test/unit/policy.test.ts.
 */
import { stringify } from 'yaml';
import { join } from 'node:path';
import { OVERLAYS, kindOf, nameOf, obj, render, repoRoot, str } from '../render.js';
import type { Obj } from '../render.js';
import { kubectl, kubectlOk } from '../kubectl.js';

/** Kustomizations without namespaces of their own are applied into this one (`-n`). */
const USER_NAMESPACE = 'manifests-dry-run';

function groupOf(o: Obj): string {
  const apiVersion = str(o['apiVersion']);
  return apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';
}

const crdPresent = new Map<string, boolean>();
function servedByApiserver(o: Obj): boolean {
  const group = groupOf(o);
  if (!['gateway.networking.k8s.io', 'networking.gke.io'].includes(group)) return true;
  const key = `${kindOf(o)}.${group}`;
  let present = crdPresent.get(key);
  if (present === undefined) {
    present = kubectl(['get', 'crd', `${kindOf(o).toLowerCase()}s.${group}`]).status === 0;
    crdPresent.set(key, present);
  }
  return present;
}

function toYaml(objects: readonly Obj[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}

beforeAll(() => {
  kubectlOk(
    ['apply', '--server-side', '-f', '-'],
    toYaml([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: USER_NAMESPACE } }]),
  );
});

describe.each(OVERLAYS.map((d) => [d]))('%s', (dir) => {
  it('passes server-side dry-run', () => {
    const objects = render(dir);
    const namespaces = objects.filter((o) => kindOf(o) === 'Namespace');
    if (namespaces.length > 0) kubectlOk(['apply', '--server-side', '-f', '-'], toYaml(namespaces));
    const rest = objects.filter((o) => kindOf(o) !== 'Namespace');
    const served = rest.filter(servedByApiserver);
    // Kustomizations that name no namespace (examples, namespace-router) go where `-n` says.
    const namespaced = rest.some((o) => obj(o['metadata'])['namespace'] !== undefined);
    const target = namespaced ? [] : ['-n', USER_NAMESPACE];
    const out = kubectlOk(
      ['apply', '--dry-run=server', '--server-side', '--force-conflicts', ...target, '-f', '-'],
      toYaml(served),
    );
    const applied = out.split('\n').filter((l) => l.endsWith('(server dry run)'));
    expect(applied).toHaveLength(served.length);
    // What was left out is only Gateway API / GKE objects whose CRDs this apiserver lacks.
    const skipped = rest.filter((o) => !served.includes(o)).map((o) => `${kindOf(o)}/${nameOf(o)}`);
    for (const s of skipped) expect(s).toMatch(/^(Gateway|HTTPRoute|HealthCheckPolicy)\//);
  });
});

it('dry-runs the example claim', () => {
  const claim = join(repoRoot, 'examples/claim.yaml');
  const out = kubectlOk(['apply', '--dry-run=server', '--server-side', '-n', USER_NAMESPACE, '-f', claim]);
  expect(out).toContain(
    'sandboxclaim.extensions.agents.x-k8s.io/my-sandbox serverside-applied (server dry run)',
  );
});

it('the apiserver rejects a broken object (the dry-run really validates)', () => {
  const bad = {
    apiVersion: 'extensions.agents.x-k8s.io/v1alpha1',
    kind: 'SandboxWarmPool',
    metadata: { name: 'bad' },
    spec: { replicas: -1 },
  };
  const r = kubectl(
    ['apply', '--dry-run=server', '--server-side', '-n', USER_NAMESPACE, '-f', '-'],
    toYaml([bad]),
  );
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/invalid|Invalid|required/);
});
