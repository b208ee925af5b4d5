/**
 * Policy over the rendered YAML of every overlay, component and example: pinned tags, non-root
 * pods with capabilities dropped, and GKE Autopilot's rules (requests everywhere, nothing
 * privileged or host-level, sandbox pods on gVisor, no RuntimeClass of our own).
 */
import { OVERLAYS, arr, containersOf, kindOf, nameOf, obj, podSpecs, render, str } from '../render.js';
import type { Obj } from '../render.js';

const rendered = new Map<string, Obj[]>(OVERLAYS.map((dir) => [dir, render(dir)]));

function objectsOf(dir: string): Obj[] {
  const objects = rendered.get(dir);
  if (!objects) throw new Error(`not rendered: ${dir}`);
  return objects;
}

function find(dir: string, kind: string, name: string): Obj {
  const o = objectsOf(dir).find((x) => kindOf(x) === kind && nameOf(x) === name);
  if (!o) throw new Error(`${dir}: no ${kind}/${name}`);
  return o;
}

function env(container: Obj): Map<string, string> {
  return new Map(arr(container['env']).map((e) => [str(obj(e)['name']), str(obj(e)['value'])]));
}

/** The Secret mounted at the directory of the file an env variable names, or undefined. */
function secretBehind(podSpec: Obj, container: Obj, variable: string): string | undefined {
  const file = env(container).get(variable);
  if (file === undefined) return undefined;
  const mount = arr(container['volumeMounts'])
    .map(obj)
    .find((m) => file.startsWith(`${str(m['mountPath'])}/`));
  const volume = arr(podSpec['volumes'])
    .map(obj)
    .find((v) => v['name'] === mount?.['name']);
  const name = obj(volume?.['secret'])['secretName'];
  return typeof name === 'string' ? name : undefined;
}

/**
 * The router serves TLS from the Secret sandbox-router-tls (certificate and key from one
 * mount), never plaintext, and its probes speak HTTPS on the port the Service sends to.
 */
function expectRouterTls(d: Obj, svc: Obj): void {
  const podSpec = obj(obj(obj(d['spec'])['template'])['spec']);
  const container = obj(containersOf(podSpec)[0]);
  expect(secretBehind(podSpec, container, 'ROUTER_TLS_CERT_FILE')).toBe('sandbox-router-tls');
  expect(secretBehind(podSpec, container, 'ROUTER_TLS_KEY_FILE')).toBe('sandbox-router-tls');
  expect(env(container).has('ROUTER_INSECURE_PLAINTEXT')).toBe(false);
  for (const probe of ['livenessProbe', 'readinessProbe']) {
    expect({ probe, scheme: obj(obj(container[probe])['httpGet'])['scheme'] }).toEqual({
      probe,
      scheme: 'HTTPS',
    });
  }
  const port = arr(obj(svc['spec'])['ports'])
    .map(obj)
    .find((p) => p['port'] === 8080);
  const target = arr(container['ports'])
    .map(obj)
    .find((p) => p['name'] === port?.['targetPort']);
  expect(target?.['containerPort']).toBe(8080);
}

/** Image references in every pod spec. */
function images(objects: readonly Obj[]): string[] {
  return podSpecs(objects).flatMap((p) => containersOf(p.spec).map((c) => str(c['image'])));
}

describe.each(OVERLAYS.map((d) => [d]))('%s', (dir) => {
  const objects = objectsOf(dir);

  it('renders', () => {
    expect(objects.length).toBeGreaterThan(0);
  });

  it('pins every image tag (no :latest, no untagged)', () => {
    const all = images(objects);
    expect(all.length).toBeGreaterThan(0);
    for (const image of all) {
      const tag = /:([^/:@]+)$/.exec(image)?.[1];
      expect({ image, tag }).toEqual({ image, tag: expect.any(String) as unknown });
      expect(tag).not.toBe('latest');
    }
  });

  it('runs every pod non-root, seccomp RuntimeDefault, no privilege escalation, all capabilities dropped', () => {
    for (const { owner, spec } of podSpecs(objects)) {
      const podSc = obj(spec['securityContext']);
      expect({ owner, runAsNonRoot: podSc['runAsNonRoot'] }).toEqual({ owner, runAsNonRoot: true });
      expect({ owner, seccomp: obj(podSc['seccompProfile'])['type'] }).toEqual({
        owner,
        seccomp: 'RuntimeDefault',
      });
      for (const c of containersOf(spec)) {
        const sc = obj(c['securityContext']);
        const who = `${owner}/${str(c['name'])}`;
        expect({ who, allowPrivilegeEscalation: sc['allowPrivilegeEscalation'] }).toEqual({
          who,
          allowPrivilegeEscalation: false,
        });
        expect({ who, drop: arr(obj(sc['capabilities'])['drop']) }).toEqual({ who, drop: ['ALL'] });
        expect({ who, add: arr(obj(sc['capabilities'])['add']) }).toEqual({ who, add: [] });
        expect({ who, privileged: sc['privileged'] === true }).toEqual({ who, privileged: false });
      }
    }
  });

  it('gives the controller and router a read-only root filesystem', () => {
    for (const { owner, spec, sandbox } of podSpecs(objects)) {
      if (sandbox) continue; // the sandbox writes to /workspace and its own home
      for (const c of containersOf(spec)) {
        expect({ owner, ro: obj(c['securityContext'])['readOnlyRootFilesystem'] }).toEqual({
          owner,
          ro: true,
        });
      }
    }
  });

  it('uses nothing host-level', () => {
    for (const { owner, spec } of podSpecs(objects)) {
      expect({ owner, hostNetwork: spec['hostNetwork'] ?? false }).toEqual({ owner, hostNetwork: false });
      expect({ owner, hostPID: spec['hostPID'] ?? false }).toEqual({ owner, hostPID: false });
      expect({ owner, hostIPC: spec['hostIPC'] ?? false }).toEqual({ owner, hostIPC: false });
      const hostPaths = arr(spec['volumes']).filter((v) => obj(v)['hostPath'] !== undefined);
      expect({ owner, hostPaths }).toEqual({ owner, hostPaths: [] });
      for (const c of containersOf(spec)) {
        const hostPorts = arr(c['ports']).filter((p) => obj(p)['hostPort'] !== undefined);
        expect({ owner, hostPorts }).toEqual({ owner, hostPorts: [] });
      }
    }
  });
});

describe('base', () => {
  const dir = 'manifests/base';

  it('lists the four generated CRDs and the sandbank-system namespace', () => {
    const crds = objectsOf(dir)
      .filter((o) => kindOf(o) === 'CustomResourceDefinition')
      .map(nameOf)
      .sort();
    expect(crds).toEqual([
      'sandboxclaims.extensions.agents.x-k8s.io',
      'sandboxes.agents.x-k8s.io',
      'sandboxtemplates.extensions.agents.x-k8s.io',
      'sandboxwarmpools.extensions.agents.x-k8s.io',
    ]);
    expect(find(dir, 'Namespace', 'sandbank-system')).toBeDefined();
  });

  it('runs one leader-elected controller with probes, resources and scrape annotations', () => {
    const d = find(dir, 'Deployment', 'sandbank-controller');
    const spec = obj(d['spec']);
    expect(spec['replicas']).toBe(1);
    const template = obj(spec['template']);
    expect(obj(obj(template['metadata'])['annotations'])).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8080',
    });
    const [c] = containersOf(obj(template['spec']));
    expect(c).toBeDefined();
    const container = obj(c);
    expect(str(container['image'])).toBe('ghcr.io/sandbank/controller:0.1.0');
    expect(env(container).get('LEADER_ELECT')).toBe('true');
    expect(env(container).get('ROUTER_NAMESPACES')).toBe('sandbank-system');
    expect(env(container).has('ROUTER_NAMESPACE')).toBe(false);
    expect(obj(container['livenessProbe'])['httpGet']).toBeDefined();
    expect(obj(obj(container['readinessProbe'])['httpGet'])['path']).toBe('/readyz');
    expect(obj(obj(container['resources'])['limits'])['memory']).toBeDefined();
  });

  it('runs two spread router replicas behind sandbox-router-svc:8080 with a PDB and kubernetes auth', () => {
    const d = find(dir, 'Deployment', 'sandbox-router-deployment');
    const spec = obj(d['spec']);
    expect(spec['replicas']).toBe(2);
    const podSpec = obj(obj(spec['template'])['spec']);
    expect(arr(podSpec['topologySpreadConstraints']).length).toBeGreaterThan(0);
    const container = obj(containersOf(podSpec)[0]);
    // Auth per overlay (kubernetes here, token in the local overlay): router-auth.test.ts.
    expect(env(container).get('ROUTER_AUTH_MODE')).toBe('kubernetes');
    expectRouterTls(d, find(dir, 'Service', 'sandbox-router-svc'));

    const svc = obj(find(dir, 'Service', 'sandbox-router-svc')['spec']);
    expect(svc['selector']).toEqual({ app: 'sandbox-router' });
    expect(arr(svc['ports']).map((p) => obj(p)['port'])).toContain(8080);
    const pdb = obj(find(dir, 'PodDisruptionBudget', 'sandbox-router')['spec']);
    expect(obj(pdb['selector'])['matchLabels']).toEqual({ app: 'sandbox-router' });
  });

  it('has a NetworkPolicy for the controller, the conversion webhook and the router', () => {
    const policies = objectsOf(dir).filter((o) => kindOf(o) === 'NetworkPolicy');
    expect(policies.map(nameOf).sort()).toEqual([
      'sandbank-controller',
      'sandbank-webhook',
      'sandbox-router',
    ]);
    for (const p of policies) expect(obj(p['spec'])['policyTypes']).toEqual(['Ingress', 'Egress']);
  });
});

describe('local overlay', () => {
  const dir = 'manifests/overlays/local';

  it('creates RuntimeClass gvisor with handler runsc', () => {
    expect(find(dir, 'RuntimeClass', 'gvisor')['handler']).toBe('runsc');
  });

  it('uses the locally built images and never pulls', () => {
    for (const { spec } of podSpecs(objectsOf(dir))) {
      for (const c of containersOf(spec)) {
        expect(str(c['image'])).toMatch(/^localhost\/sandbank-(controller|router):local$/);
        expect(c['imagePullPolicy']).toBe('Never');
      }
    }
  });
});

describe.each([['manifests/overlays/gke-autopilot'], ['manifests/test/fixtures/gke-autopilot-gateway']])(
  'GKE Autopilot (%s)',
  (dir) => {
    it('sets CPU and memory requests on every container', () => {
      for (const { owner, spec } of podSpecs(objectsOf(dir))) {
        for (const c of containersOf(spec)) {
          const requests = obj(obj(c['resources'])['requests']);
          expect({ owner, cpu: typeof requests['cpu'] }).toEqual({ owner, cpu: 'string' });
          expect({ owner, memory: typeof requests['memory'] }).toEqual({ owner, memory: 'string' });
        }
      }
    });

    it("does not create a RuntimeClass (GKE's gvisor is used)", () => {
      expect(objectsOf(dir).filter((o) => kindOf(o) === 'RuntimeClass')).toEqual([]);
    });
  },
);

describe('sandbox pods', () => {
  it.each([['examples/python-runtime'], ['examples/gke-standard']])(
    '%s: every SandboxTemplate uses runtimeClassName gvisor and has requests',
    (dir) => {
      const sandboxes = podSpecs(objectsOf(dir)).filter((p) => p.sandbox);
      expect(sandboxes.length).toBeGreaterThan(0);
      for (const { spec } of sandboxes) {
        expect(spec['runtimeClassName']).toBe('gvisor');
        for (const c of containersOf(spec)) {
          expect(obj(obj(c['resources'])['requests'])['cpu']).toBeDefined();
          expect(obj(obj(c['resources'])['requests'])['memory']).toBeDefined();
        }
      }
    },
  );

  it('gke-standard examples go to the gVisor node pool', () => {
    for (const { spec } of podSpecs(objectsOf('examples/gke-standard'))) {
      expect(spec['nodeSelector']).toEqual({ 'sandbox.gke.io/runtime': 'gvisor' });
      expect(spec['tolerations']).toEqual([
        { key: 'sandbox.gke.io/runtime', operator: 'Equal', value: 'gvisor', effect: 'NoSchedule' },
      ]);
    }
  });
});

describe('gateway component', () => {
  // Its objects also pass server-side dry-run (integration/dry-run.test.ts): Gateway and HTTPRoute
  // against the Gateway API CRDs, the HealthCheckPolicy against a structural stand-in only. What
  // neither schema can say is checked here: the references between the objects.
  const dir = 'manifests/test/fixtures/gke-autopilot-gateway';
  const namespaceOf = (o: Obj): unknown => obj(o['metadata'])['namespace'];

  it('routes an HTTPS-only Gateway to sandbox-router-svc:8080 over TLS and health-checks /healthz over HTTPS', () => {
    const gateway = find(dir, 'Gateway', 'sandbox-router-gateway');
    const route = find(dir, 'HTTPRoute', 'sandbox-router');
    const policy = find(dir, 'HealthCheckPolicy', 'sandbox-router');
    const service = find(dir, 'Service', 'sandbox-router-svc');
    // Routes attach only from the Gateway's own namespace (allowedRoutes: Same); GKE attaches a
    // HealthCheckPolicy only to a Service in the policy's namespace.
    for (const o of [gateway, route, policy]) expect(namespaceOf(o)).toBe(namespaceOf(service));
    const listeners = arr(obj(gateway['spec'])['listeners']).map(obj);
    // one listener, HTTPS: no plain HTTP one, not even a redirect (the first request's token would be in cleartext)
    expect(listeners.map((l) => l['protocol'])).toEqual(['HTTPS']);
    const [listener] = listeners;
    expect(obj(obj(listener?.['allowedRoutes'])['namespaces'])['from']).toBe('Same');
    expect(obj(listener?.['tls'])).toEqual({
      mode: 'Terminate',
      certificateRefs: [{ group: '', kind: 'Secret', name: 'sandbox-router-gateway-tls' }],
    });

    const routeSpec = obj(route['spec']);
    expect(arr(routeSpec['parentRefs'])).toEqual([{ name: 'sandbox-router-gateway' }]);
    const backends = arr(routeSpec['rules']).flatMap((r) => arr(obj(r)['backendRefs']));
    expect(backends).toEqual([{ name: 'sandbox-router-svc', port: 8080 }]);
    // the load balancer speaks TLS to the router too (GKE reads the Service port's appProtocol)
    const routerPort = arr(obj(service['spec'])['ports'])
      .map(obj)
      .find((p) => p['port'] === 8080);
    expect(routerPort?.['appProtocol']).toBe('HTTPS');

    const hc = obj(policy['spec']);
    expect(obj(obj(hc['default'])['config'])).toEqual({
      type: 'HTTPS',
      httpsHealthCheck: { port: 8080, requestPath: '/healthz' },
    });
    expect(hc['targetRef']).toEqual({ group: '', kind: 'Service', name: 'sandbox-router-svc' });
  });
});

describe('agent key', () => {
  // Every router reads the key its pods' agent credentials derive from out of the Secret
  // sandbank-agent-key, mounted read-only and required (no key: the router cannot call them).
  const routers = OVERLAYS.flatMap((dir) =>
    objectsOf(dir)
      .filter((o) => kindOf(o) === 'Deployment' && nameOf(o) === 'sandbox-router-deployment')
      .map((d) => [dir, d] as const),
  );

  it.each(routers.map(([dir, d]) => [dir, d] as const))('%s: the router mounts it read-only', (_dir, d) => {
    const podSpec = obj(obj(obj(d['spec'])['template'])['spec']);
    const container = obj(containersOf(podSpec)[0]);
    expect(secretBehind(podSpec, container, 'ROUTER_AGENT_KEY_FILE')).toBe('sandbank-agent-key');
    expect(env(container).get('ROUTER_AGENT_KEY_FILE')).toMatch(/\/key$/);
    expect(env(container).has('ROUTER_AGENT_TOKEN_FILE')).toBe(false);
    const file = env(container).get('ROUTER_AGENT_KEY_FILE') ?? '';
    const mount = arr(container['volumeMounts'])
      .map(obj)
      .find((m) => file.startsWith(`${str(m['mountPath'])}/`));
    expect(mount?.['readOnly']).toBe(true);
    const volume = arr(podSpec['volumes'])
      .map(obj)
      .find((v) => v['name'] === mount?.['name']);
    expect(obj(volume?.['secret'])['optional']).toBeUndefined();
  });

  it('is made by the controller, which alone may read it', () => {
    const rules = arr(find('manifests/base', 'Role', 'sandbank-controller-agent-key')['rules']).map(obj);
    expect(rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['sandbank-agent-key'], verbs: ['get'] },
    ]);
    const controller = find('manifests/base', 'Deployment', 'sandbank-controller');
    const c = obj(containersOf(obj(obj(obj(controller['spec'])['template'])['spec']))[0]);
    // Its default, AGENT_KEY_SECRET unset: sandbank-agent-key in its own namespace (POD_NAMESPACE).
    expect(env(c).has('AGENT_KEY_SECRET')).toBe(false);
    expect(
      arr(c['env'])
        .map(obj)
        .find((e) => e['name'] === 'POD_NAMESPACE'),
    ).toEqual({
      name: 'POD_NAMESPACE',
      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    expect(routers.map(([dir]) => dir)).toEqual(
      expect.arrayContaining(['manifests/base', 'manifests/namespace-router']),
    );
  });
});

describe('per-namespace router', () => {
  it('puts sandbox-router-svc and a namespace-scoped router into the target namespace', () => {
    const objects = objectsOf('manifests/namespace-router');
    // No namespace in the YAML: `kubectl apply -k ... -n <ns>` places everything.
    for (const o of objects)
      expect({ o: nameOf(o), ns: obj(o['metadata'])['namespace'] }).toEqual({ o: nameOf(o), ns: undefined });
    expect(objects.filter((o) => kindOf(o).startsWith('Cluster'))).toEqual([]);
    const svc = obj(find('manifests/namespace-router', 'Service', 'sandbox-router-svc')['spec']);
    expect(svc['selector']).toEqual({ app: 'sandbox-router' });
  });

  it("serves TLS from the namespace's Secret sandbox-router-tls, readable by the router's group", () => {
    const d = find('manifests/namespace-router', 'Deployment', 'sandbox-router-deployment');
    expectRouterTls(d, find('manifests/namespace-router', 'Service', 'sandbox-router-svc'));
    const podSc = obj(obj(obj(obj(d['spec'])['template'])['spec'])['securityContext']);
    expect(podSc['fsGroup']).toBe(podSc['runAsGroup']);
  });

  it('the component lets template NetworkPolicies admit a router in the sandbox namespace', () => {
    const d = find('manifests/test/fixtures/per-namespace-router', 'Deployment', 'sandbank-controller');
    const c = obj(containersOf(obj(obj(obj(d['spec'])['template'])['spec']))[0]);
    // `.`: the sandbox's own namespace (a peer without namespaceSelector).
    expect(env(c).get('ROUTER_NAMESPACES')).toBe('.');
    expect(env(c).has('ROUTER_NAMESPACE')).toBe(false);
    expect(env(c).get('LEADER_ELECT')).toBe('true');
  });
});

describe('cert-manager component', () => {
  // Its Issuers and Certificates also pass server-side dry-run against cert-manager's CRDs
  // (integration/dry-run.test.ts); what the schemas cannot say is checked here: the references.
  const dir = 'manifests/test/fixtures/cert-manager';
  const specOf = (kind: string, name: string): Obj => obj(find(dir, kind, name)['spec']);
  const issuerOf = (certificate: Obj): Obj => {
    const ref = obj(certificate['issuerRef']);
    expect(ref).toMatchObject({ group: 'cert-manager.io', kind: 'Issuer' });
    return specOf('Issuer', str(ref['name']));
  };

  it('issues the Secret the router mounts, for every name clients dial, from the private CA', () => {
    const d = find(dir, 'Deployment', 'sandbox-router-deployment');
    const podSpec = obj(obj(obj(d['spec'])['template'])['spec']);
    const container = obj(containersOf(podSpec)[0]);
    const cert = specOf('Certificate', 'sandbox-router-tls');
    expect(cert['secretName']).toBe(secretBehind(podSpec, container, 'ROUTER_TLS_CERT_FILE'));
    expect(arr(cert['dnsNames'])).toEqual(
      expect.arrayContaining([
        'sandbox-router-svc',
        'sandbox-router-svc.sandbank-system',
        'sandbox-router-svc.sandbank-system.svc',
        'sandbox-router-svc.sandbank-system.svc.cluster.local',
        'localhost',
      ]),
    );
    expect(arr(cert['ipAddresses'])).toEqual(['127.0.0.1', '::1']);
    expect(arr(cert['usages'])).toContain('server auth');
    // renewed well before it expires, with a new key each time
    expect(obj(cert['privateKey'])['rotationPolicy']).toBe('Always');
    expect(cert['renewBefore']).toBeDefined();

    // sandbox-router-tls <- Issuer sandbank-router-ca (the CA's Secret) <- Certificate sandbank-router-ca (isCA) <- self-signed
    const caIssuer = issuerOf(cert);
    const caSecret = str(obj(caIssuer['ca'])['secretName']);
    const ca = specOf('Certificate', 'sandbank-router-ca');
    expect(ca['secretName']).toBe(caSecret);
    expect(ca['isCA']).toBe(true);
    expect(issuerOf(ca)['selfSigned']).toEqual({});
  });
});
