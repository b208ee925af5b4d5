/**
 * components/agent-sandbox-compat as upstream's clients need it (#18): the Service and port the
 * Python SDK port-forwards by default, a router there that takes token-less requests only through
 * its loopback listener (its network listener on the pod's IPs, admitting no client), the Secrets
 * its pods wait for, and the example roles an SDK user is bound to. Rendered alone, with the local
 * images, and beside the base install (whose central router has the same name in sandbank-system).
 */
import { arr, kindOf, nameOf, obj, render, str } from '../render.js';
import type { Obj } from '../render.js';

const NS = 'agent-sandbox-system';
const of = (objects: Obj[], kind: string, name: string, namespace?: string): Obj | undefined =>
  objects.find(
    (o) =>
      kindOf(o) === kind &&
      nameOf(o) === name &&
      (namespace === undefined || obj(o['metadata'])['namespace'] === namespace),
  );

describe.each([
  'manifests/components/agent-sandbox-compat',
  'manifests/overlays/local/agent-sandbox-compat',
  'manifests/test/fixtures/agent-sandbox-compat',
])('%s', (dir) => {
  const objects = render(dir);
  const deployment = obj(of(objects, 'Deployment', 'sandbox-router-deployment', NS));
  const podSpec = obj(obj(obj(deployment['spec'])['template'])['spec']);
  const container = obj(arr(podSpec['containers'])[0]);
  const env = Object.fromEntries(
    arr(container['env']).map((e) => [
      str(obj(e)['name']),
      obj(e)['value'] ?? obj(obj(obj(e)['valueFrom'])['fieldRef'])['fieldPath'],
    ]),
  );

  test('the namespace, Deployment, Service, PDB and NetworkPolicy have the names the SDK expects', () => {
    expect(of(objects, 'Namespace', NS)).toBeDefined();
    expect(deployment).toMatchObject({ metadata: { namespace: NS } });
    expect(of(objects, 'PodDisruptionBudget', 'sandbox-router', NS)).toBeDefined();
    expect(of(objects, 'NetworkPolicy', 'sandbox-router', NS)).toBeDefined();
    // `kubectl port-forward svc/sandbox-router-svc <local>:8080`: the Service port 8080 leads to
    // the router's HTTP port, where the loopback listener is.
    const service = obj(of(objects, 'Service', 'sandbox-router-svc', NS));
    const port = arr(obj(service['spec'])['ports'])
      .map(obj)
      .find((p) => p['port'] === 8080);
    const containerPort = arr(container['ports'])
      .map(obj)
      .find((p) => p['name'] === port?.['targetPort']);
    expect(containerPort?.['containerPort']).toBe(8080);
    expect(env['ROUTER_PORT']).toBe('8080');
  });

  test("token-less port-forwards in listed namespaces, the network listener on the pod's IPs with Kubernetes auth", () => {
    expect(env['ROUTER_PORTFORWARD_NAMESPACES']).toBe('default');
    expect(env['ROUTER_BIND_ADDRESSES']).toBe('status.podIPs');
    expect(env['ROUTER_AUTH_MODE']).toBe('kubernetes');
    expect(env['ROUTER_HOST']).toBeUndefined();
    expect(Object.keys(env).filter((k) => k.startsWith('ROUTER_AUTH_TOKEN'))).toEqual([]);
  });

  test('its pods wait for the certificate and the copy of the agent key in their own namespace', () => {
    const secrets = arr(podSpec['volumes'])
      .map((v) => obj(obj(v)['secret']))
      .filter((s) => s['secretName'] !== undefined);
    // the preview-link keys are optional: without them the router runs with previews off
    expect(secrets.map((s) => [s['secretName'], s['optional'] ?? false]).sort()).toEqual([
      ['sandbank-agent-key', false],
      ['sandbank-preview-keys', true],
      ['sandbox-router-tls', false],
    ]);
  });

  test('the NetworkPolicy admits no client to the HTTP and gRPC ports (a Gateway is not admitted)', () => {
    const policy = obj(of(objects, 'NetworkPolicy', 'sandbox-router', NS));
    const ports = arr(obj(policy['spec'])['ingress']).flatMap((r) =>
      arr(obj(r)['ports']).map((p) => obj(p)['port']),
    );
    expect(ports).toEqual([9090]);
  });

  test('the router may read the caches and ask reviews; nothing on Secrets', () => {
    const bound = objects
      .filter(
        (o) =>
          kindOf(o) === 'ClusterRoleBinding' &&
          arr(o['subjects']).some((s) => obj(s)['name'] === 'sandbox-router' && obj(s)['namespace'] === NS),
      )
      .map((o) => str(obj(o['roleRef'])['name']))
      .sort();
    expect(bound).toEqual(['sandbank-router', 'system:auth-delegator']);
  });

  test('example roles: the tunnel (service get, pods/portforward) here, claims and sandboxes where users claim', () => {
    const tunnel = obj(of(objects, 'Role', 'agent-sandbox-tunnel-user', NS));
    expect(arr(tunnel['rules'])).toEqual(
      expect.arrayContaining([
        { apiGroups: [''], resources: ['services'], resourceNames: ['sandbox-router-svc'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods/portforward'], verbs: ['create'] },
      ]),
    );
    const user = obj(of(objects, 'ClusterRole', 'agent-sandbox-sdk-user'));
    expect(arr(user['rules'])).toEqual(
      expect.arrayContaining([
        {
          apiGroups: ['extensions.agents.x-k8s.io'],
          resources: ['sandboxclaims'],
          verbs: ['create', 'get', 'list', 'watch', 'patch', 'delete'],
        },
        { apiGroups: ['agents.x-k8s.io'], resources: ['sandboxes'], verbs: ['get', 'list', 'watch'] },
      ]),
    );
    // Neither grants exec on claims: tunnel users get the router's port-forward caller instead.
    for (const role of [tunnel, user])
      expect(JSON.stringify(role['rules'])).not.toContain('sandboxclaims/exec');
  });
});

test('beside the base install, each router keeps its own configuration (same names, two namespaces)', () => {
  const objects = render('manifests/test/fixtures/agent-sandbox-compat');
  const routers = objects.filter(
    (o) => kindOf(o) === 'Deployment' && nameOf(o) === 'sandbox-router-deployment',
  );
  expect(routers.map((o) => obj(o['metadata'])['namespace']).sort()).toEqual([NS, 'sandbank-system']);
  const central = obj(routers.find((o) => obj(o['metadata'])['namespace'] === 'sandbank-system'));
  const env = JSON.stringify(obj(obj(central['spec'])['template']));
  expect(env).not.toContain('ROUTER_PORTFORWARD_NAMESPACES');
  // The ClusterRole the compatibility router is bound to is the base's.
  expect(of(objects, 'ClusterRole', 'sandbank-router')).toBeDefined();
});

test("make up's install admits the compatibility router to sandboxes beside the central one", () => {
  // The controller's ROUTER_NAMESPACES feeds the template NetworkPolicies' router peers. The local
  // overlay sets it (the compatibility overlay inside its directory cannot patch the controller);
  // the base admits only the central router.
  const controllerEnv = (dir: string): unknown[] => {
    const d = obj(of(render(dir), 'Deployment', 'sandbank-controller', 'sandbank-system'));
    return arr(obj(arr(obj(obj(obj(d['spec'])['template'])['spec'])['containers'])[0])['env']);
  };
  const routerNamespaces = (dir: string) =>
    controllerEnv(dir)
      .map(obj)
      .filter((e) => String(e['name']).startsWith('ROUTER_NAMESPACE'))
      .map((e) => [e['name'], e['value']]);
  expect(routerNamespaces('manifests/overlays/local')).toEqual([
    ['ROUTER_NAMESPACES', 'sandbank-system,agent-sandbox-system'],
  ]);
  expect(routerNamespaces('manifests/base')).toEqual([['ROUTER_NAMESPACES', 'sandbank-system']]);
});
