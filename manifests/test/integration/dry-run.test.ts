/**
 * Every overlay, component and example renders and passes server-side dry-run against the real
 * kube-apiserver; every object is dry-run, none is skipped. Namespaces are created for real first
 * (a dry-run of a namespaced object needs its namespace).
 *
 * Besides the built-in types and our CRDs, beforeAll installs the CRDs the gateway component needs:
 * - the Gateway API standard channel from the Go module sigs.k8s.io/gateway-api
 *   (GATEWAY_API_VERSION in e2e/cluster/versions.env, fetched once into the cache by
 *   e2e/cluster/fetch-gateway-api-crds.sh): Gateway and HTTPRoute are checked against the real
 *   upstream schemas, CEL rules included;
 * - GKE's HealthCheckPolicy is NOT published where the tests can get it, so a structural stand-in
 *   written for these tests is installed instead (manifests/test/fixtures/gke-stand-in-crds). It
 *   checks group, version, kind, that it is namespaced, and the fields the component sets (names,
 *   types, limits); it does not prove that GKE accepts the object. unit/policy.test.ts checks its
 *   values statically.
 * - cert-manager's CRDs from the Go module github.com/cert-manager/cert-manager (CERT_MANAGER_VERSION,
 *   fetched by e2e/cluster/fetch-cert-manager-crds.sh): the cert-manager component's Issuers and
 *   Certificates are checked against the real schemas.
 * They stay on the apiserver for the rest of the run (with SANDBANK_KUBECONFIG set, on that one:
 * never point it at a cluster whose own Gateway API CRDs must not be replaced).
 * The "rejects" tests below break one field at a time and expect the apiserver to refuse it, so a
 * schema that silently accepted anything would fail them.
 */
import { stringify } from 'yaml';
import { join } from 'node:path';
import { applyManifests, certManagerCrdManifests, gatewayApiCrdManifests } from '@sandbank/e2e';
import { OVERLAYS, forDryRun, isObj, kindOf, nameOf, obj, render, repoRoot } from '../render.js';
import type { Obj } from '../render.js';
import { kubectl, kubectlOk } from '../kubectl.js';

/** Kustomizations without namespaces of their own are applied into this one (`-n`). */
const USER_NAMESPACE = 'manifests-dry-run';
const GATEWAY_FIXTURE = 'manifests/test/fixtures/gke-autopilot-gateway';
const STAND_IN_CRDS = join(repoRoot, 'manifests/test/fixtures/gke-stand-in-crds');

function toYaml(objects: readonly Obj[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}

function kubeconfigPath(): string {
  const path = process.env['SANDBANK_KUBECONFIG'];
  if (!path) throw new Error('SANDBANK_KUBECONFIG is not set: run in the jest `integration` project');
  return path;
}

function dryRun(objects: readonly Obj[], namespaceArgs: readonly string[] = []) {
  return kubectl(
    ['apply', '--dry-run=server', '--server-side', '--force-conflicts', ...namespaceArgs, '-f', '-'],
    toYaml(forDryRun(objects)),
  );
}

beforeAll(async () => {
  kubectlOk(
    ['apply', '--server-side', '-f', '-'],
    toYaml([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: USER_NAMESPACE } }]),
  );
  // Server-side apply, then wait until each CRD is Established (applyManifests does both).
  const crds = [...(await gatewayApiCrdManifests()), ...(await certManagerCrdManifests()), STAND_IN_CRDS];
  await applyManifests(kubeconfigPath(), crds);
});

describe.each(OVERLAYS.map((d) => [d]))('%s', (dir) => {
  it('passes server-side dry-run, every object', () => {
    const objects = render(dir);
    const namespaces = objects.filter((o) => kindOf(o) === 'Namespace');
    if (namespaces.length > 0) kubectlOk(['apply', '--server-side', '-f', '-'], toYaml(namespaces));
    const rest = objects.filter((o) => kindOf(o) !== 'Namespace');
    // Kustomizations that name no namespace (examples, namespace-router) go where `-n` says.
    const namespaced = rest.some((o) => obj(o['metadata'])['namespace'] !== undefined);
    const r = dryRun(rest, namespaced ? [] : ['-n', USER_NAMESPACE]);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    const applied = r.stdout.split('\n').filter((l) => l.endsWith('(server dry run)'));
    expect(applied).toHaveLength(rest.length);
  });
});

describe('gateway component (gke-autopilot + gateway)', () => {
  let rendered: Obj[] | undefined;
  const objects = (): Obj[] => (rendered ??= render(GATEWAY_FIXTURE));
  const one = (kind: string, name: string): Obj => {
    const o = objects().find((x) => kindOf(x) === kind && nameOf(x) === name);
    if (!o) throw new Error(`${GATEWAY_FIXTURE}: no ${kind}/${name}`);
    return o;
  };

  // The objects live in sandbank-system: create it for real, as the per-kustomization test does.
  beforeAll(() => {
    const namespaces = objects().filter((o) => kindOf(o) === 'Namespace');
    expect(namespaces.map(nameOf)).toEqual(['sandbank-system']);
    kubectlOk(['apply', '--server-side', '-f', '-'], toYaml(namespaces));
  });

  it('dry-runs the Gateway, HTTPRoute and HealthCheckPolicy against their CRDs', () => {
    const gatewayObjects = objects().filter((o) =>
      ['Gateway', 'HTTPRoute', 'HealthCheckPolicy'].includes(kindOf(o)),
    );
    expect(gatewayObjects).toHaveLength(3);
    const out = kubectlOk(
      ['apply', '--dry-run=server', '--server-side', '-o', 'name', '-f', '-'],
      toYaml(gatewayObjects),
    );
    expect(out.trim().split('\n').sort()).toEqual([
      'gateway.gateway.networking.k8s.io/sandbox-router-gateway',
      'healthcheckpolicy.networking.gke.io/sandbox-router',
      'httproute.gateway.networking.k8s.io/sandbox-router',
    ]);
  });

  /** A deep copy of `o` with the value at `path` set (added if new) or, for undefined, removed. */
  function changed(o: Obj, path: readonly (string | number)[], value: unknown): Obj {
    const copy = structuredClone(o);
    let parent: unknown = copy;
    for (const key of path.slice(0, -1)) {
      parent =
        isObj(parent) || Array.isArray(parent)
          ? (parent as Record<string | number, unknown>)[key]
          : undefined;
    }
    const last = path[path.length - 1];
    if ((!isObj(parent) && !Array.isArray(parent)) || last === undefined) {
      throw new Error(`${kindOf(o)}/${nameOf(o)} has no ${path.slice(0, -1).join('.')}`);
    }
    const at = parent as Record<string | number, unknown>;
    if (value !== undefined) at[last] = value;
    else if (last in at) Reflect.deleteProperty(at, last);
    else throw new Error(`${kindOf(o)}/${nameOf(o)} has no ${path.join('.')}`);
    return copy;
  }

  const GW = ['Gateway', 'sandbox-router-gateway'] as const;
  const ROUTE = ['HTTPRoute', 'sandbox-router'] as const;
  const HCP = ['HealthCheckPolicy', 'sandbox-router'] as const;
  const HTTP_CHECK = ['spec', 'default', 'config', 'httpsHealthCheck'];

  // Each case changes one field of the rendered object; the message is the apiserver's own.
  it.each([
    // Gateway API, upstream schema: OpenAPI limits, patterns, required fields and CEL rules.
    [
      'Gateway: listener port 0',
      GW,
      ['spec', 'listeners', 0, 'port'],
      0,
      /listeners\[0\]\.port in body should be greater than or equal to 1/,
    ],
    [
      'Gateway: malformed protocol',
      GW,
      ['spec', 'listeners', 0, 'protocol'],
      'http!',
      /listeners\[0\]\.protocol in body should match/,
    ],
    [
      'Gateway: the HTTPS listener passing TLS through instead of terminating it',
      GW,
      ['spec', 'listeners', 0, 'tls', 'mode'],
      'Passthrough',
      /tls mode must be Terminate for protocol HTTPS/,
    ],
    [
      'Gateway: the HTTPS listener without a certificate',
      GW,
      ['spec', 'listeners', 0, 'tls', 'certificateRefs'],
      [],
      /certificateRefs or options must be specified when mode is Terminate/,
    ],
    [
      'Gateway: a plain HTTP listener with the TLS settings',
      GW,
      ['spec', 'listeners', 0, 'protocol'],
      'HTTP',
      /tls must not be specified for protocols \['HTTP', 'TCP',\s+'UDP'\]/,
    ],
    [
      'Gateway: no gatewayClassName',
      GW,
      ['spec', 'gatewayClassName'],
      undefined,
      /spec\.gatewayClassName: Required value/,
    ],
    [
      'HTTPRoute: PathPrefix not starting with /',
      ROUTE,
      ['spec', 'rules', 0, 'matches', 0, 'path', 'value'],
      'healthz',
      /value must be an absolute path and start with '\/'/,
    ],
    [
      'HTTPRoute: Service backend without a port',
      ROUTE,
      ['spec', 'rules', 0, 'backendRefs', 0, 'port'],
      undefined,
      /backendRefs\[0\]: Invalid value: "object": Must have port for Service reference/,
    ],
    [
      'HTTPRoute: a field that does not exist',
      ROUTE,
      ['spec', 'rules', 0, 'backendRefs', 0, 'prot'],
      8080,
      /\.spec\.rules\[0\]\.backendRefs\[0\]\.prot: field not declared in schema/,
    ],
    // GKE HealthCheckPolicy, the stand-in: the fields the component sets.
    [
      'HealthCheckPolicy: port 0',
      HCP,
      [...HTTP_CHECK, 'port'],
      0,
      /httpsHealthCheck\.port in body should be greater than or equal to 1/,
    ],
    [
      'HealthCheckPolicy: relative requestPath',
      HCP,
      [...HTTP_CHECK, 'requestPath'],
      'healthz',
      /httpsHealthCheck\.requestPath in body should match '\^\/'/,
    ],
    [
      'HealthCheckPolicy: misspelt requestPath',
      HCP,
      [...HTTP_CHECK, 'requestpath'],
      '/x',
      /httpsHealthCheck\.requestpath: field not declared in schema/,
    ],
    [
      'HealthCheckPolicy: unknown health check type',
      HCP,
      ['spec', 'default', 'config', 'type'],
      'UDP',
      /spec\.default\.config\.type: Unsupported value: "UDP"/,
    ],
    [
      'HealthCheckPolicy: type without its block',
      HCP,
      HTTP_CHECK,
      undefined,
      /spec\.default\.config in body should have at least 2 properties/,
    ],
    [
      'HealthCheckPolicy: targetRef without group',
      HCP,
      ['spec', 'targetRef', 'group'],
      undefined,
      /spec\.targetRef\.group: Required value/,
    ],
    [
      'HealthCheckPolicy: no targetRef',
      HCP,
      ['spec', 'targetRef'],
      undefined,
      /spec\.targetRef: Required value/,
    ],
  ] as const)('rejects %s', (_what, [kind, name], path, value, message) => {
    const r = dryRun([changed(one(kind, name), path, value)]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});

describe('cert-manager component (base + cert-manager)', () => {
  const FIXTURE = 'manifests/test/fixtures/cert-manager';
  let rendered: Obj[] | undefined;
  const objects = (): Obj[] => (rendered ??= render(FIXTURE));
  /** A copy of the router's Certificate, for one change. */
  const certificate = (): Obj => {
    const o = objects().find((x) => kindOf(x) === 'Certificate' && nameOf(x) === 'sandbox-router-tls');
    if (!o) throw new Error(`${FIXTURE}: no Certificate/sandbox-router-tls`);
    return structuredClone(o);
  };

  beforeAll(() => {
    kubectlOk(
      ['apply', '--server-side', '-f', '-'],
      toYaml(objects().filter((o) => kindOf(o) === 'Namespace')),
    );
  });

  it("dry-runs both Issuers and both Certificates against cert-manager's CRDs", () => {
    const certManager = objects().filter((o) => ['Issuer', 'Certificate'].includes(kindOf(o)));
    const out = kubectlOk(
      ['apply', '--dry-run=server', '--server-side', '-o', 'name', '-f', '-'],
      toYaml(certManager),
    );
    expect(out.trim().split('\n').sort()).toEqual([
      'certificate.cert-manager.io/sandbank-router-ca',
      'certificate.cert-manager.io/sandbox-router-tls',
      'issuer.cert-manager.io/sandbank-router-ca',
      'issuer.cert-manager.io/sandbank-selfsigned',
    ]);
  });

  it.each([
    [
      'no secretName',
      (spec: Obj): void => {
        Reflect.deleteProperty(spec, 'secretName');
      },
      /spec\.secretName: Required value/,
    ],
    [
      'a key algorithm that does not exist',
      (spec: Obj): void => {
        obj(spec['privateKey'])['algorithm'] = 'DSA';
      },
      /spec\.privateKey\.algorithm: Unsupported value: "DSA"/,
    ],
    [
      'a misspelt field',
      (spec: Obj): void => {
        spec['dnsName'] = ['x'];
      },
      /\.spec\.dnsName: field not declared in schema/,
    ],
  ] as const)('rejects the router Certificate with %s', (_what, change, message) => {
    const c = certificate();
    change(obj(c['spec']));
    const r = dryRun([c]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
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
