/**
 * Tenant onboarding and the namespace-scoped install, applied for real (server-side) to the
 * integration API server:
 * - manifests/tenant/example makes `team-a`: Pod Security `restricted` enforced (a privileged pod
 *   is refused, the example sandbox admitted), the Roles, quota and limits, and the user binding;
 * - in the namespace-scoped install (component namespace-scoped + a tenant namespace) the
 *   controller and router may do their work in the tenant namespace and nothing in any other
 *   namespace or cluster-wide (asked through SubjectAccessReviews), and the real controller,
 *   running as that ServiceAccount with only those rights, becomes ready and fills a warm pool.
 *
 * The base's ClusterRoleBindings (applied by rbac.test.ts on the same API server) bind the
 * ServiceAccounts of `sandbank-system` cluster-wide, so the scoped install is applied with
 * `sandbank-system` renamed to a namespace of this test's own, and its cluster-scoped objects
 * renamed with a suffix.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { integrationKubeConfig } from '@sandbank/e2e';
import {
  ensureRuntimeClass,
  startController,
  waitControllerReady,
  waitFor,
  type ControllerProcess,
  type Obj as ApiObj,
} from '@sandbank/testing';
import { arr, forDryRun, kindOf, nameOf, obj, podSpecs, render, str } from '../render.js';
import type { Obj } from '../render.js';
import { kubectl, kubectlOk } from '../kubectl.js';

const SYSTEM = 'sandbank-system';
const SCOPED_FIXTURE = 'manifests/test/fixtures/namespace-scoped';
const TEAM_A = 'team-a';
const SUFFIX = `${Date.now().toString(36)}-${process.pid}`;
const SCOPED_SYSTEM = `scoped-system-${SUFFIX}`;
const SCOPED_TENANT = `scoped-tenant-${SUFFIX}`;
/** A namespace that exists but was not onboarded. */
const OTHER = `scoped-other-${SUFFIX}`;
const EXT = 'extensions.agents.x-k8s.io';
const CORE = 'agents.x-k8s.io';

const USER_ROLES = new Set(['sandbank-user', 'sandbank-viewer']);
const RBAC_KINDS = new Set([
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
]);

function toYaml(objects: readonly Obj[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}

function apply(objects: readonly Obj[]): void {
  const namespaces = objects.filter((o) => kindOf(o) === 'Namespace');
  if (namespaces.length > 0)
    kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', '-'], toYaml(namespaces));
  const rest = objects.filter((o) => kindOf(o) !== 'Namespace');
  kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', '-'], toYaml(rest));
}

/**
 * The objects with namespaces renamed (`from` → `to`: Namespace names, metadata.namespace,
 * ServiceAccount subjects) and cluster-scoped objects, and role references to them, named
 * `<name>-<SUFFIX>`.
 */
function relocate(objects: readonly Obj[], renames: Readonly<Record<string, string>>): Obj[] {
  const rename = (ns: unknown): unknown => (typeof ns === 'string' ? (renames[ns] ?? ns) : ns);
  const clusterRoles = new Set(objects.filter((o) => kindOf(o) === 'ClusterRole').map(nameOf));
  return objects.map((o) => {
    const copy = structuredClone(o);
    const meta = obj(copy['metadata']);
    if (kindOf(copy) === 'Namespace') meta['name'] = rename(meta['name']);
    else if (kindOf(copy).startsWith('Cluster')) meta['name'] = `${nameOf(copy)}-${SUFFIX}`;
    if (meta['namespace'] !== undefined) meta['namespace'] = rename(meta['namespace']);
    for (const s of arr(copy['subjects']).map(obj))
      if (s['namespace'] !== undefined) s['namespace'] = rename(s['namespace']);
    const ref = obj(copy['roleRef']);
    if (ref['kind'] === 'ClusterRole' && clusterRoles.has(str(ref['name'])))
      ref['name'] = `${str(ref['name'])}-${SUFFIX}`;
    return copy;
  });
}

interface Ask {
  readonly verb: string;
  readonly resource: string;
  readonly group?: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
}

const Review = z.object({ status: z.object({ allowed: z.boolean() }) });

function allowed(user: string, groups: readonly string[], ask: Ask): boolean {
  const review = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: { user, groups: [...groups, 'system:authenticated'], resourceAttributes: { group: '', ...ask } },
  };
  return Review.parse(JSON.parse(kubectlOk(['create', '-o', 'json', '-f', '-'], stringify(review)))).status
    .allowed;
}

const serviceAccount = (namespace: string, name: string) =>
  [
    `system:serviceaccount:${namespace}:${name}`,
    ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
  ] as const;
const SCOPED_CONTROLLER = serviceAccount(SCOPED_SYSTEM, 'sandbank-controller');
const SCOPED_ROUTER = serviceAccount(SCOPED_SYSTEM, 'sandbox-router');

function label(ask: Ask): string {
  const res = `${ask.resource}${ask.subresource ? `/${ask.subresource}` : ''}${ask.group ? `.${ask.group}` : ''}`;
  return `${ask.verb} ${res}${ask.name ? `/${ask.name}` : ''}`;
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not true after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What the controller does in a namespace it works in (manifests/base/controller/rbac.yaml). */
const controllerWork: Ask[] = [
  ...['list', 'watch', 'delete'].map((verb) => ({ verb, group: EXT, resource: 'sandboxclaims' })),
  ...['list', 'watch'].map((verb) => ({ verb, group: EXT, resource: 'sandboxtemplates' })),
  ...['list', 'watch'].map((verb) => ({ verb, group: EXT, resource: 'sandboxwarmpools' })),
  { verb: 'patch', group: EXT, resource: 'sandboxclaims', subresource: 'status' },
  { verb: 'patch', group: EXT, resource: 'sandboxwarmpools', subresource: 'status' },
  { verb: 'update', group: EXT, resource: 'sandboxwarmpools', subresource: 'finalizers' },
  ...['list', 'watch', 'create', 'delete'].map((verb) => ({ verb, group: CORE, resource: 'sandboxes' })),
  { verb: 'patch', group: CORE, resource: 'sandboxes', subresource: 'status' },
  ...['get', 'list', 'watch', 'create', 'update', 'delete'].map((verb) => ({ verb, resource: 'pods' })),
  ...['list', 'watch', 'create', 'delete'].map((verb) => ({ verb, resource: 'services' })),
  ...['list', 'watch', 'create'].map((verb) => ({ verb, resource: 'persistentvolumeclaims' })),
  ...['list', 'watch', 'create', 'patch', 'delete'].map((verb) => ({
    verb,
    group: 'networking.k8s.io',
    resource: 'networkpolicies',
  })),
  ...['create', 'patch'].map((verb) => ({ verb, group: 'events.k8s.io', resource: 'events' })),
];

/** What the router does in a namespace it serves. */
const routerWork: Ask[] = [
  ...['list', 'watch'].map((verb) => ({ verb, resource: 'pods' })),
  ...['list', 'watch'].map((verb) => ({ verb, group: CORE, resource: 'sandboxes' })),
  ...['list', 'watch'].map((verb) => ({ verb, group: EXT, resource: 'sandboxclaims' })),
];

/** Never, anywhere. */
const neverAllowed: Ask[] = [
  ...['get', 'list', 'watch', 'create'].map((verb) => ({ verb, resource: 'secrets' })),
  { verb: 'create', resource: 'pods', subresource: 'exec' },
  { verb: 'list', resource: 'configmaps' },
  { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings' },
];

let controller: ControllerProcess | undefined;
let workDir: string | undefined;

beforeAll(async () => {
  // The sandbox pods below ask for RuntimeClass gvisor (the API server refuses a missing one).
  await ensureRuntimeClass(integrationKubeConfig());
  // The tenant as a user would apply it, and the user ClusterRoles its example binds.
  apply(
    render('manifests/base').filter(
      (o) => kindOf(o) === 'ClusterRole' && nameOf(o).startsWith('sandbank-user'),
    ),
  );
  apply(render('manifests/tenant/example'));

  // The scoped install's RBAC and a tenant for it, in namespaces of this test's own. The user
  // ClusterRoles are left out: the tenant's binding refers to the ones applied above.
  const scopedRbac = render(SCOPED_FIXTURE).filter(
    (o) => RBAC_KINDS.has(kindOf(o)) && !USER_ROLES.has(nameOf(o)),
  );
  apply(relocate(scopedRbac, { [SYSTEM]: SCOPED_SYSTEM }));
  apply(relocate(render('manifests/tenant/example'), { [SYSTEM]: SCOPED_SYSTEM, [TEAM_A]: SCOPED_TENANT }));
  kubectlOk(['create', 'namespace', OTHER]);

  // The RBAC authorizer's informer must have the bindings before a denial means anything.
  await until('scoped bindings effective', () =>
    [
      allowed(...SCOPED_CONTROLLER, { verb: 'list', resource: 'pods', namespace: SCOPED_TENANT }),
      allowed(...SCOPED_ROUTER, { verb: 'list', resource: 'pods', namespace: SCOPED_TENANT }),
      allowed(...SCOPED_ROUTER, { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' }),
      allowed(...SCOPED_CONTROLLER, {
        verb: 'create',
        group: 'coordination.k8s.io',
        resource: 'leases',
        namespace: SCOPED_SYSTEM,
      }),
      allowed('alice', ['team-a-developers'], {
        verb: 'create',
        group: EXT,
        resource: 'sandboxclaims',
        subresource: 'exec',
        namespace: TEAM_A,
      }),
    ].every(Boolean),
  );
}, 120_000);

afterAll(async () => {
  await controller?.kill();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  for (const ns of [TEAM_A, SCOPED_SYSTEM, SCOPED_TENANT, OTHER])
    kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
  const ours = kubectl(['get', 'clusterroles,clusterrolebindings', '-o', 'name'])
    .stdout.split('\n')
    .filter((name) => name.endsWith(`-${SUFFIX}`));
  if (ours.length > 0) kubectl(['delete', '--ignore-not-found', ...ours]);
}, 60_000);

describe('tenant namespace team-a (manifests/tenant/example, applied server-side)', () => {
  it('carries the Pod Security labels, restricted at a pinned version', () => {
    const ns = JSON.parse(kubectlOk(['get', 'namespace', TEAM_A, '-o', 'json'])) as Obj;
    const labels = obj(obj(ns['metadata'])['labels']);
    for (const mode of ['enforce', 'audit', 'warn']) {
      expect(labels[`pod-security.kubernetes.io/${mode}`]).toBe('restricted');
      expect(str(labels[`pod-security.kubernetes.io/${mode}-version`])).toMatch(/^v1\.\d+$/);
    }
  });

  it('holds the Roles, RoleBindings, ResourceQuota and LimitRange', () => {
    const list = JSON.parse(
      kubectlOk(['get', 'roles,rolebindings,resourcequotas,limitranges', '-n', TEAM_A, '-o', 'json']),
    ) as Obj;
    expect(
      arr(list['items'])
        .map(obj)
        .map((o) => `${kindOf(o)}/${nameOf(o)}`)
        .sort(),
    ).toEqual([
      'LimitRange/sandbank-tenant',
      'ResourceQuota/sandbank-tenant',
      'Role/sandbank-controller',
      'Role/sandbank-router',
      'RoleBinding/sandbank-controller',
      'RoleBinding/sandbank-router',
      'RoleBinding/sandbank-users',
    ]);
  });

  it('refuses a privileged pod, naming the field, and admits the example sandbox pod', () => {
    const pod = (name: string, spec: Obj): string =>
      stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: TEAM_A }, spec });
    const privileged = kubectl(
      ['create', '--dry-run=server', '-f', '-'],
      pod('privileged', {
        containers: [{ name: 'c', image: 'runtime:1', securityContext: { privileged: true } }],
      }),
    );
    expect(privileged.status).not.toBe(0);
    expect(privileged.stderr).toMatch(/violates PodSecurity "restricted:v1\.\d+"/);
    expect(privileged.stderr).toMatch(/privileged/);

    const template = podSpecs(render('examples/python-runtime')).find((p) => p.sandbox);
    if (!template) throw new Error('examples/python-runtime has no SandboxTemplate');
    const example = kubectl(
      ['create', '--dry-run=server', '-o', 'json', '-f', '-'],
      pod('example', template.spec),
    );
    expect({ status: example.status, stderr: example.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('fills in the LimitRange defaults for a container that sets no resources', () => {
    const out = kubectlOk(
      ['create', '--dry-run=server', '-o', 'json', '-f', '-'],
      stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'no-resources', namespace: TEAM_A },
        spec: {
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'c',
              image: 'runtime:1',
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      }),
    );
    const resources = obj(obj(arr(obj((JSON.parse(out) as Obj)['spec'])['containers'])[0])['resources']);
    expect(resources).toEqual({
      requests: { cpu: '250m', memory: '512Mi', 'ephemeral-storage': '1Gi' },
      limits: { cpu: '1', memory: '1Gi', 'ephemeral-storage': '2Gi' },
    });
  });

  it("lets the example's user group claim and exec in team-a, and nowhere else", () => {
    const exec = (namespace: string): Ask => ({
      verb: 'create',
      group: EXT,
      resource: 'sandboxclaims',
      subresource: 'exec',
      namespace,
    });
    expect(allowed('alice', ['team-a-developers'], exec(TEAM_A))).toBe(true);
    const claim: Ask = { verb: 'create', group: EXT, resource: 'sandboxclaims', namespace: TEAM_A };
    expect(allowed('alice', ['team-a-developers'], claim)).toBe(true);
    expect(allowed('alice', ['team-a-developers'], exec(OTHER))).toBe(false);
    expect(allowed('mallory', ['team-b-developers'], exec(TEAM_A))).toBe(false);
  });
});

describe('namespace-scoped install', () => {
  it('passes server-side dry-run, every object (the local overlay with the component)', () => {
    const objects = render(SCOPED_FIXTURE);
    const namespaces = objects.filter((o) => kindOf(o) === 'Namespace');
    kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', '-'], toYaml(namespaces));
    const rest = objects.filter((o) => kindOf(o) !== 'Namespace');
    const r = kubectl(
      ['apply', '--dry-run=server', '--server-side', '--force-conflicts', '-f', '-'],
      toYaml(forDryRun(rest)),
    );
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout.split('\n').filter((l) => l.endsWith('(server dry run)'))).toHaveLength(rest.length);
  });

  const where = [
    ['in the tenant namespace', SCOPED_TENANT],
    ['in a namespace not onboarded', OTHER],
    ['cluster-wide', undefined],
  ] as const;

  describe.each(where)('the controller %s', (_where, namespace) => {
    const expected = namespace === SCOPED_TENANT;
    it.each(controllerWork.map((a) => [label(a), a] as const))(
      `may ${expected ? '' : 'not '}%s`,
      (_l, ask) => {
        expect(allowed(...SCOPED_CONTROLLER, { ...ask, ...(namespace ? { namespace } : {}) })).toBe(expected);
      },
    );
    it.each(neverAllowed.map((a) => [label(a), a] as const))('may not %s', (_l, ask) => {
      expect(allowed(...SCOPED_CONTROLLER, { ...ask, ...(namespace ? { namespace } : {}) })).toBe(false);
    });
  });

  describe.each(where)('the router %s', (_where, namespace) => {
    const expected = namespace === SCOPED_TENANT;
    it.each(routerWork.map((a) => [label(a), a] as const))(`may ${expected ? '' : 'not '}%s`, (_l, ask) => {
      expect(allowed(...SCOPED_ROUTER, { ...ask, ...(namespace ? { namespace } : {}) })).toBe(expected);
    });
    it.each([...neverAllowed, { verb: 'create', resource: 'pods' }].map((a) => [label(a), a] as const))(
      'may not %s',
      (_l, ask) => {
        expect(allowed(...SCOPED_ROUTER, { ...ask, ...(namespace ? { namespace } : {}) })).toBe(false);
      },
    );
  });

  it('keeps the cluster-scoped review APIs for the router and the Lease for the controller', () => {
    expect(
      allowed(...SCOPED_ROUTER, { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' }),
    ).toBe(true);
    expect(
      allowed(...SCOPED_ROUTER, {
        verb: 'create',
        group: 'authorization.k8s.io',
        resource: 'subjectaccessreviews',
      }),
    ).toBe(true);
    const lease = { group: 'coordination.k8s.io', resource: 'leases', namespace: SCOPED_SYSTEM };
    expect(allowed(...SCOPED_CONTROLLER, { verb: 'update', ...lease, name: 'sandbank-controller' })).toBe(
      true,
    );
    expect(allowed(...SCOPED_CONTROLLER, { verb: 'update', ...lease, name: 'other' })).toBe(false);
  });

  it('runs the controller with nothing but these rights: it becomes ready and fills a warm pool', async () => {
    const kc = integrationKubeConfig();
    // A token of the relocated controller ServiceAccount, in a kubeconfig of its own.
    const token = kubectlOk([
      'create',
      'token',
      'sandbank-controller',
      '-n',
      SCOPED_SYSTEM,
      '--duration=1h',
    ]).trim();
    const admin = parse(kubectlOk(['config', 'view', '--raw', '--minify', '-o', 'json'])) as Obj;
    const cluster = obj(arr(admin['clusters'])[0]);
    workDir = mkdtempSync(join(tmpdir(), 'sandbank-scoped-'));
    const kubeconfigPath = join(workDir, 'kubeconfig');
    writeFileSync(
      kubeconfigPath,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [cluster],
        users: [{ name: 'scoped-controller', user: { token } }],
        contexts: [{ name: 'scoped', context: { cluster: cluster['name'], user: 'scoped-controller' } }],
        'current-context': 'scoped',
      }),
      { mode: 0o600 },
    );
    controller = await startController({
      kubeconfigPath,
      namespace: SCOPED_TENANT,
      env: {
        LEADER_ELECT: 'true',
        LEADER_ELECTION_NAMESPACE: SCOPED_SYSTEM,
        LEADER_ELECTION_NAME: 'sandbank-controller',
        ROUTER_NAMESPACES: SCOPED_SYSTEM,
        // Its agent key where its Role lets it make one: its own namespace, as POD_NAMESPACE says.
        AGENT_KEY_SECRET: `${SCOPED_SYSTEM}/sandbank-agent-key`,
      },
    });
    // Ready means every informer listed: with a missing list or watch right it never is.
    await waitControllerReady(controller, 90_000);

    kubectlOk(
      ['apply', '--server-side', '-n', SCOPED_TENANT, '-f', '-'],
      toYaml([
        {
          apiVersion: `${EXT}/v1alpha1`,
          kind: 'SandboxTemplate',
          metadata: { name: 'tpl' },
          spec: {
            podTemplate: {
              spec: { runtimeClassName: 'gvisor', containers: [{ name: 'main', image: 'runtime:1' }] },
            },
          },
        },
        {
          apiVersion: `${EXT}/v1alpha1`,
          kind: 'SandboxWarmPool',
          metadata: { name: 'pool' },
          spec: { replicas: 1, sandboxTemplateRef: { name: 'tpl' } },
        },
      ]),
    );
    const pools = `/apis/${EXT}/v1alpha1/namespaces/${SCOPED_TENANT}/sandboxwarmpools`;
    await waitFor(kc, pools, 'pool', (p: ApiObj | undefined) => p?.status?.replicas === 1, {
      description: 'warm pool filled by the scoped controller',
      timeoutMs: 90_000,
    });
    const pods = JSON.parse(kubectlOk(['get', 'pods', '-n', SCOPED_TENANT, '-o', 'json'])) as Obj;
    expect(arr(pods['items'])).toHaveLength(1);
    const policies = JSON.parse(
      kubectlOk(['get', 'networkpolicies', '-n', SCOPED_TENANT, '-o', 'json']),
    ) as Obj;
    expect(arr(policies['items']).map((o) => nameOf(obj(o)))).toEqual(['tpl-sandbox-network-policy']);
    // No Forbidden on the way: every call it made was allowed.
    expect(controller.output()).not.toMatch(/forbidden/i);
  }, 240_000);
});
