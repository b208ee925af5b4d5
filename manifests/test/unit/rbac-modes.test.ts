/**
 * The RBAC of both install modes, rendered: the cluster-wide base, and the base with the
 * namespace-scoped component plus a tenant namespace from manifests/tenant. In the scoped mode no
 * ClusterRole grants pods or Secrets and nothing binds the controller or router cluster-wide but
 * to system:auth-delegator; the tenant Roles carry exactly the base ClusterRoles' rules; and the
 * matrix in docs/deploy/rbac.md is what the YAML grants, row for row.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { arr, containersOf, kindOf, nameOf, obj, render, repoRoot, str } from '../render.js';
import type { Obj } from '../render.js';

const SYSTEM = 'sandbank-system';
const SCOPED_FIXTURE = 'manifests/test/fixtures/namespace-scoped';
const TENANT_EXAMPLE = 'manifests/tenant/example';
const TENANT = 'team-a';

const base = render('manifests/base');
const scoped = render(SCOPED_FIXTURE);
const tenant = render(TENANT_EXAMPLE);

const WHO = {
  controller: `${SYSTEM}/sandbank-controller`,
  router: `${SYSTEM}/sandbox-router`,
  webhook: `${SYSTEM}/sandbank-webhook`,
} as const;
type Who = keyof typeof WHO;

/**
 * system:auth-delegator is built into Kubernetes, so its rules are not in our YAML; these are
 * its rules (kube-apiserver's bootstrap policy): two cluster-scoped "may I?" APIs.
 */
const AUTH_DELEGATOR_RULES: Obj[] = [
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];
/** Resources without a namespace: a grant on them is 'cluster', never 'all namespaces'. */
const CLUSTER_SCOPED = new Set([
  'tokenreviews',
  'subjectaccessreviews',
  'namespaces',
  'customresourcedefinitions',
  'customresourcedefinitions/status',
]);

/** Where a grant applies, as the docs' matrix spells it. */
type Scope = 'all namespaces' | 'each tenant namespace' | 'sandbank-system' | 'cluster';

/** One verb on one resource (and resource name, or '') in one scope: `who|group|resource|name|verb|scope`. */
type Grant = string;

function find(objects: readonly Obj[], kind: string, name: string, namespace?: string): Obj | undefined {
  return objects.find(
    (o) =>
      kindOf(o) === kind &&
      nameOf(o) === name &&
      (namespace === undefined || obj(o['metadata'])['namespace'] === namespace),
  );
}

function rulesOf(objects: readonly Obj[], roleRef: Obj, namespace: string | undefined): Obj[] {
  const name = str(roleRef['name']);
  if (roleRef['kind'] === 'ClusterRole' && name === 'system:auth-delegator') return AUTH_DELEGATOR_RULES;
  const role =
    roleRef['kind'] === 'ClusterRole'
      ? find(objects, 'ClusterRole', name)
      : find(objects, 'Role', name, namespace);
  if (!role) throw new Error(`binding refers to a missing ${str(roleRef['kind'])}/${name}`);
  return arr(role['rules']).map(obj);
}

/** Every grant the rendered objects give `who`, with the scope each applies in. */
function grants(objects: readonly Obj[], who: Who, tenantNamespaces: readonly string[]): Set<Grant> {
  const [saNamespace, saName] = WHO[who].split('/');
  const out = new Set<Grant>();
  for (const binding of objects) {
    const kind = kindOf(binding);
    if (kind !== 'ClusterRoleBinding' && kind !== 'RoleBinding') continue;
    const bound = arr(binding['subjects'])
      .map(obj)
      .some((s) => s['kind'] === 'ServiceAccount' && s['name'] === saName && s['namespace'] === saNamespace);
    if (!bound) continue;
    const namespace = kind === 'RoleBinding' ? str(obj(binding['metadata'])['namespace']) : undefined;
    for (const rule of rulesOf(objects, obj(binding['roleRef']), namespace)) {
      for (const group of arr(rule['apiGroups']).map(str))
        for (const resource of arr(rule['resources']).map(str)) {
          const scope: Scope =
            namespace === undefined
              ? CLUSTER_SCOPED.has(resource)
                ? 'cluster'
                : 'all namespaces'
              : namespace === SYSTEM
                ? 'sandbank-system'
                : tenantNamespaces.includes(namespace)
                  ? 'each tenant namespace'
                  : (() => {
                      throw new Error(`${who} is bound in an unexpected namespace ${namespace}`);
                    })();
          const names = arr(rule['resourceNames']).map(str);
          for (const name of names.length > 0 ? names : [''])
            for (const verb of arr(rule['verbs']).map(str))
              out.add([who, group, resource, name, verb, scope].join('|'));
        }
    }
  }
  return out;
}

function clusterRoleGrants(objects: readonly Obj[], resource: string): string[] {
  return objects
    .filter((o) => kindOf(o) === 'ClusterRole')
    .filter((role) =>
      arr(role['rules'])
        .map(obj)
        .some((r) => arr(r['resources']).some((x) => x === resource || x === '*' || x === `${resource}/*`)),
    )
    .map(nameOf);
}

/** A rule list in a canonical order (rules, and the lists inside each, sorted). */
function canonical(rules: unknown): string[] {
  return arr(rules)
    .map(obj)
    .map((r) =>
      JSON.stringify(
        Object.fromEntries(
          Object.entries(r)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => [k, arr(v).map(str).sort()]),
        ),
      ),
    )
    .sort();
}

function envOf(objects: readonly Obj[], deployment: string): Map<string, Obj> {
  const d = find(objects, 'Deployment', deployment);
  const c = obj(containersOf(obj(obj(obj(d?.['spec'])['template'])['spec']))[0]);
  return new Map(arr(c['env']).map((e) => [str(obj(e)['name']), obj(e)]));
}

describe('namespace-scoped install (component namespace-scoped + a tenant namespace)', () => {
  const all = [...scoped, ...tenant];

  it('has no ClusterRole that grants pods or Secrets', () => {
    expect(clusterRoleGrants(scoped, 'pods')).toEqual([]);
    expect(clusterRoleGrants(scoped, 'secrets')).toEqual([]);
    // the base does grant pods cluster-wide: this is what the component takes away
    expect(clusterRoleGrants(base, 'pods').sort()).toEqual(['sandbank-controller', 'sandbank-router']);
  });

  it('binds the controller, webhook and router cluster-wide only to read Namespaces and Sandbank CRDs, point those at the conversion webhook and ask TokenReviews and SubjectAccessReviews', () => {
    const clusterBindings = scoped
      .filter((o) => kindOf(o) === 'ClusterRoleBinding')
      .map((b) => `${nameOf(b)} -> ${str(obj(b['roleRef'])['name'])}`)
      .sort();
    expect(clusterBindings).toEqual([
      'sandbank-controller-crds -> sandbank-controller-crds',
      'sandbank-controller-namespace-reader -> sandbank-controller-namespace-reader',
      'sandbank-router-auth-delegator -> system:auth-delegator',
      'sandbank-webhook-crds -> sandbank-webhook-crds',
    ]);
    const wide = (who: Who) =>
      [...grants(all, who, [TENANT])].filter((g) => g.endsWith('|all namespaces') || g.endsWith('|cluster'));
    // Namespaces are cluster-scoped: the controller reads their labels (the sandbox profile's
    // per-namespace relaxations), names and labels only. CRDs too: conversion is global to a CRD,
    // so the webhook points Sandbank's four (by name) at itself in both modes; the controller
    // only reads them and sets storedVersions.
    expect(wide('controller').sort()).toEqual([
      'controller|apiextensions.k8s.io|customresourcedefinitions/status|sandboxclaims.extensions.agents.x-k8s.io|patch|cluster',
      'controller|apiextensions.k8s.io|customresourcedefinitions/status|sandboxes.agents.x-k8s.io|patch|cluster',
      'controller|apiextensions.k8s.io|customresourcedefinitions/status|sandboxtemplates.extensions.agents.x-k8s.io|patch|cluster',
      'controller|apiextensions.k8s.io|customresourcedefinitions/status|sandboxwarmpools.extensions.agents.x-k8s.io|patch|cluster',
      'controller|apiextensions.k8s.io|customresourcedefinitions|sandboxclaims.extensions.agents.x-k8s.io|get|cluster',
      'controller|apiextensions.k8s.io|customresourcedefinitions|sandboxes.agents.x-k8s.io|get|cluster',
      'controller|apiextensions.k8s.io|customresourcedefinitions|sandboxtemplates.extensions.agents.x-k8s.io|get|cluster',
      'controller|apiextensions.k8s.io|customresourcedefinitions|sandboxwarmpools.extensions.agents.x-k8s.io|get|cluster',
      'controller||namespaces||list|cluster',
      'controller||namespaces||watch|cluster',
    ]);
    expect(wide('webhook').sort()).toEqual(
      [
        'sandboxclaims.extensions.agents.x-k8s.io',
        'sandboxes.agents.x-k8s.io',
        'sandboxtemplates.extensions.agents.x-k8s.io',
        'sandboxwarmpools.extensions.agents.x-k8s.io',
      ].flatMap((crd) =>
        ['get', 'patch'].map(
          (verb) => `webhook|apiextensions.k8s.io|customresourcedefinitions|${crd}|${verb}|cluster`,
        ),
      ),
    );
    expect(wide('router').sort()).toEqual([
      'router|authentication.k8s.io|tokenreviews||create|cluster',
      'router|authorization.k8s.io|subjectaccessreviews||create|cluster',
    ]);
  });

  it('gives the controller and router in a tenant namespace what the base gives them everywhere', () => {
    const inTenant = (who: Who) =>
      [...grants(all, who, [TENANT])]
        .filter((g) => g.endsWith('|each tenant namespace'))
        .map((g) => g.replace('|each tenant namespace', ''))
        .sort();
    const everywhere = (who: Who) =>
      [...grants(base, who, [])]
        .filter((g) => g.endsWith('|all namespaces'))
        .map((g) => g.replace('|all namespaces', ''))
        .sort();
    for (const who of ['controller', 'router'] as const) {
      expect(inTenant(who).length).toBeGreaterThan(0);
      expect({ who, rules: inTenant(who) }).toEqual({ who, rules: everywhere(who) });
    }
    // Rule for rule, so that a verb added to a base ClusterRole shows up here as a reminder to
    // add it to manifests/tenant/base too.
    for (const [clusterRole, role] of [
      ['sandbank-controller', 'sandbank-controller'],
      ['sandbank-router', 'sandbank-router'],
    ] as const) {
      expect({ role, rules: canonical(find(tenant, 'Role', role, TENANT)?.['rules']) }).toEqual({
        role,
        rules: canonical(find(base, 'ClusterRole', clusterRole)?.['rules']),
      });
    }
  });

  it('keeps the leader-election, agent-key and webhook-certificate Roles in sandbank-system', () => {
    expect([...grants(all, 'webhook', [TENANT])].filter((g) => !g.endsWith('|cluster')).sort()).toEqual([
      'webhook||secrets|sandbank-webhook-tls|get|sandbank-system',
      'webhook||secrets|sandbank-webhook-tls|update|sandbank-system',
      'webhook||secrets||create|sandbank-system',
    ]);
    expect(
      [...grants(all, 'controller', [TENANT])].filter((g) => g.endsWith('|sandbank-system')).sort(),
    ).toEqual([
      'controller|coordination.k8s.io|leases|sandbank-controller|get|sandbank-system',
      'controller|coordination.k8s.io|leases|sandbank-controller|update|sandbank-system',
      'controller|coordination.k8s.io|leases||create|sandbank-system',
      'controller||secrets|sandbank-agent-key|get|sandbank-system',
      'controller||secrets||create|sandbank-system',
    ]);
  });

  it("feeds WATCH_NAMESPACE and ROUTER_NAMESPACES from one generated ConfigMap's list", () => {
    const refs = [
      envOf(scoped, 'sandbank-controller').get('WATCH_NAMESPACE'),
      envOf(scoped, 'sandbox-router-deployment').get('ROUTER_NAMESPACES'),
    ].map((e) => obj(obj(e?.['valueFrom'])['configMapKeyRef']));
    expect(refs[0]).toEqual(refs[1]);
    const configMap = find(scoped, 'ConfigMap', str(refs[0]?.['name']), SYSTEM);
    expect(nameOf(configMap ?? {})).toMatch(/^sandbank-namespaces-[a-z0-9]+$/);
    expect(obj(configMap?.['data'])[str(refs[0]?.['key'])]).toBe('team-a,team-b');
  });
});

describe('tenant namespace (manifests/tenant/example)', () => {
  it('is the Namespace team-a with Pod Security restricted enforced, audited and warned at a pinned version', () => {
    const namespaces = tenant.filter((o) => kindOf(o) === 'Namespace');
    expect(namespaces.map(nameOf)).toEqual([TENANT]);
    const labels = obj(obj(namespaces[0]?.['metadata'])['labels']);
    for (const mode of ['enforce', 'audit', 'warn']) {
      expect({ mode, level: labels[`pod-security.kubernetes.io/${mode}`] }).toEqual({
        mode,
        level: 'restricted',
      });
      expect({ mode, version: labels[`pod-security.kubernetes.io/${mode}-version`] }).toEqual({
        mode,
        version: expect.stringMatching(/^v1\.\d+$/) as unknown,
      });
    }
  });

  it('puts every other object into team-a, and binds the ServiceAccounts of sandbank-system', () => {
    const rest = tenant.filter((o) => kindOf(o) !== 'Namespace');
    expect(rest.map((o) => `${kindOf(o)}/${nameOf(o)}`).sort()).toEqual([
      'LimitRange/sandbank-tenant',
      'ResourceQuota/sandbank-tenant',
      'Role/sandbank-controller',
      'Role/sandbank-router',
      'RoleBinding/sandbank-controller',
      'RoleBinding/sandbank-router',
      'RoleBinding/sandbank-users',
    ]);
    for (const o of rest)
      expect({ o: nameOf(o), ns: obj(o['metadata'])['namespace'] }).toEqual({ o: nameOf(o), ns: TENANT });
    expect(arr(find(tenant, 'RoleBinding', 'sandbank-controller')?.['subjects'])).toEqual([
      { kind: 'ServiceAccount', name: 'sandbank-controller', namespace: SYSTEM },
    ]);
    expect(arr(find(tenant, 'RoleBinding', 'sandbank-router')?.['subjects'])).toEqual([
      { kind: 'ServiceAccount', name: 'sandbox-router', namespace: SYSTEM },
    ]);
    expect(obj(find(tenant, 'RoleBinding', 'sandbank-users')?.['roleRef'])).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'sandbank-user',
    });
  });

  it('fills in requests the quota needs and lets no Service leave the cluster', () => {
    const hard = obj(obj(find(tenant, 'ResourceQuota', 'sandbank-tenant')?.['spec'])['hard']);
    expect(hard).toMatchObject({ 'services.loadbalancers': '0', 'services.nodeports': '0' });
    const container = arr(obj(find(tenant, 'LimitRange', 'sandbank-tenant')?.['spec'])['limits'])
      .map(obj)
      .find((l) => l['type'] === 'Container');
    // Every resource the quota caps by request or limit has a default, or pods without one are refused.
    for (const [key] of Object.entries(hard).filter(([k]) =>
      /^(requests|limits)\.(cpu|memory|ephemeral-storage)$/.test(k),
    )) {
      const [kind, resource] = key.split('.') as [string, string];
      const defaults = obj(container?.[kind === 'requests' ? 'defaultRequest' : 'default']);
      expect({ key, default: defaults[resource] }).toEqual({ key, default: expect.any(String) as unknown });
    }
  });
});

describe('docs/deploy/rbac.md', () => {
  const doc = readFileSync(join(repoRoot, 'docs/deploy/rbac.md'), 'utf8');
  /** Rows of the matrix: `| who | API group | resources | verbs | cluster-wide | namespace-scoped |`. */
  const rows = doc
    .split('\n')
    .filter((l) => /^\| (controller|router|webhook) \|/.test(l))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim().replace(/`/g, '')),
    );
  const documented = (mode: 'cluster-wide' | 'namespace-scoped'): Set<Grant> => {
    const out = new Set<Grant>();
    for (const [who, group, resources, verbs, wide, narrow] of rows) {
      const scope = mode === 'cluster-wide' ? wide : narrow;
      if (scope === undefined || scope === '—') continue;
      for (const item of (resources ?? '').split(', ')) {
        const m = /^([a-z/]+)(?: \(name ([a-z0-9.-]+)\))?$/.exec(item);
        if (!m?.[1]) throw new Error(`docs/deploy/rbac.md: cannot read the resource ${JSON.stringify(item)}`);
        for (const verb of (verbs ?? '').split(', '))
          out.add([who, group === 'core' ? '' : group, m[1], m[2] ?? '', verb, scope].join('|'));
      }
    }
    return out;
  };
  const sorted = (s: Set<Grant>) => [...s].sort();

  it('has the matrix', () => {
    expect(rows.length).toBeGreaterThan(10);
  });

  it('lists exactly what the cluster-wide install grants', () => {
    const yaml = new Set(
      (['controller', 'router', 'webhook'] as const).flatMap((who) => [...grants(base, who, [])]),
    );
    expect(sorted(documented('cluster-wide'))).toEqual(sorted(yaml));
  });

  it('lists exactly what the namespace-scoped install grants', () => {
    const all = [...scoped, ...tenant];
    const yaml = new Set(
      (['controller', 'router', 'webhook'] as const).flatMap((who) => [...grants(all, who, [TENANT])]),
    );
    expect(sorted(documented('namespace-scoped'))).toEqual(sorted(yaml));
  });
});
