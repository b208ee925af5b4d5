/**
 * DNS from a sandbox, the controller and the router goes to the cluster's DNS pods only. Port 53
 * open towards any address is a way out of the cluster (a resolver anywhere carries data in its
 * queries), so every egress rule of every SandboxTemplate and NetworkPolicy we ship that reaches
 * port 53 (or every port) must name its peers, and those may only be the DNS pods: kube-system's `k8s-app: kube-dns` (kube-dns, and CoreDNS as
 * installers deploy it, keep that label for compatibility).
 */
import { OVERLAYS, arr, kindOf, nameOf, obj, render } from '../render.js';
import type { Obj } from '../render.js';

const CLUSTER_DNS_PEER = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
  podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
};

/** True when the rule lets traffic to port 53 through: it lists 53 or a range over it, or no ports. */
function reaches53(rule: Obj): boolean {
  const ports = arr(rule['ports']).map(obj);
  return (
    ports.length === 0 ||
    ports.some((p) => {
      const first = p['port'];
      if (typeof first !== 'number') return true; // no port (all), or a named one: assume it may
      const last = typeof p['endPort'] === 'number' ? p['endPort'] : first;
      return first <= 53 && 53 <= last;
    })
  );
}

/** The egress rules of a shipped object: a template's for its sandboxes, a NetworkPolicy's own. */
function egressOf(o: Obj): Obj[] {
  const spec = obj(o['spec']);
  return arr(kindOf(o) === 'SandboxTemplate' ? obj(spec['networkPolicy'])['egress'] : spec['egress']).map(
    obj,
  );
}

const withEgress = OVERLAYS.flatMap((dir) =>
  render(dir)
    .filter((o) => kindOf(o) === 'SandboxTemplate' || kindOf(o) === 'NetworkPolicy')
    .map((o) => [`${dir}: ${kindOf(o)}/${nameOf(o)}`, egressOf(o)] as const),
);

it('finds the shipped templates and the controller and router policies', () => {
  const where = withEgress.map(([w]) => w);
  expect(where).toContain('examples/python-runtime: SandboxTemplate/python-runtime');
  expect(where).toContain('manifests/base: NetworkPolicy/sandbank-controller');
  expect(where).toContain('manifests/base: NetworkPolicy/sandbox-router');
});

describe.each(withEgress.filter(([, egress]) => egress.length > 0))('%s', (_where, egress) => {
  it('opens port 53 only towards the cluster DNS pods', () => {
    for (const rule of egress.filter(reaches53)) {
      const peers = arr(rule['to']);
      expect({ rule, peers: peers.length > 0 }).toEqual({ rule, peers: true });
      for (const peer of peers) expect(peer).toEqual(CLUSTER_DNS_PEER);
    }
  });

  it('still lets it resolve names over UDP and TCP', () => {
    const dnsRules = egress.filter((r) =>
      arr(r['to']).some((p) => JSON.stringify(p) === JSON.stringify(CLUSTER_DNS_PEER)),
    );
    const ports = dnsRules.flatMap((r) => arr(r['ports']).map(obj));
    expect(ports).toEqual(
      expect.arrayContaining([
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ]),
    );
  });
});
