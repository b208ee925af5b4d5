/**
 * Resolution follows ownership, never names or hashes: claim → Sandbox (the Sandbox named like the
 * claim, controlled by the claim's UID) → Pod (controlled by the Sandbox's UID, or, between a warm
 * bind and the Sandbox's adoption, by the claim's). The objects below are shaped as the API server
 * returns them and go through the router's own views.
 */
import { Annotations, Labels, nameHash } from '@sandbank/api';
import fc from 'fast-check';
import { resolveSandbox } from '../../src/index.js';
import type { CacheReader } from '../../src/index.js';
import { PodView, claimEntry, oomKilledAfter, podEntry, sandboxEntry } from '../../src/resolve/model.js';

type Pod = Parameters<typeof podEntry>[0];
type Sandbox = Parameters<typeof sandboxEntry>[0];
type Claim = Parameters<typeof claimEntry>[0];
type Owner = { kind: 'SandboxClaim' | 'Sandbox' | 'SandboxWarmPool'; name: string; uid: string };

const NS = 'ns';
const controller = (o: Owner | undefined) =>
  o === undefined
    ? []
    : [
        {
          apiVersion:
            o.kind === 'Sandbox' ? 'agents.x-k8s.io/v1alpha1' : 'extensions.agents.x-k8s.io/v1alpha1',
          kind: o.kind,
          name: o.name,
          uid: o.uid,
          controller: true,
        },
      ];

const claim = (name: string): Claim => ({ metadata: { name, namespace: NS, uid: `claim-uid-${name}` } });
const sandbox = (name: string, opts: { owner?: Owner; podName?: string; uid?: string } = {}): Sandbox => ({
  metadata: {
    name,
    namespace: NS,
    uid: opts.uid ?? `sandbox-uid-${name}`,
    ...(opts.podName === undefined ? {} : { annotations: { [Annotations.podName]: opts.podName } }),
    ownerReferences: controller(opts.owner),
  },
});
const pod = (
  name: string,
  opts: { owner?: Owner; labels?: Record<string, string>; ready?: boolean; deleting?: boolean } = {},
): Pod =>
  PodView.parse({
    metadata: {
      name,
      namespace: NS,
      uid: `pod-uid-${name}`,
      labels: opts.labels ?? {},
      ownerReferences: controller(opts.owner),
      ...(opts.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    status: {
      phase: 'Running',
      podIP: '10.0.0.7',
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
    },
  });

const ownerClaim = (c: Claim): Owner => ({
  kind: 'SandboxClaim',
  name: c.metadata.name,
  uid: c.metadata.uid,
});
const ownerSandbox = (s: Sandbox): Owner => ({ kind: 'Sandbox', name: s.metadata.name, uid: s.metadata.uid });
/** The labels the controller puts on a claimed sandbox's Pod (lookups, not proof). */
const claimedLabels = (sandboxName: string, c: Claim): Record<string, string> => ({
  [Labels.sandboxNameHash]: nameHash(sandboxName),
  [Labels.claimUid]: c.metadata.uid,
});

function cacheOf(objects: { claims?: Claim[]; sandboxes?: Sandbox[]; pods?: Pod[] }): CacheReader {
  const find = <T extends { metadata: { namespace: string; name: string } }>(
    list: T[] | undefined,
    ns: string,
    name: string,
  ): T | undefined => list?.find((o) => o.metadata.namespace === ns && o.metadata.name === name);
  return {
    claim: (ns, name) => {
      const hit = find(objects.claims, ns, name);
      return hit && claimEntry(hit);
    },
    claimByUid: (ns, uid) => {
      const hit = objects.claims?.find((c) => c.metadata.namespace === ns && c.metadata.uid === uid);
      return hit && claimEntry(hit);
    },
    sandbox: (ns, name) => {
      const hit = find(objects.sandboxes, ns, name);
      return hit && sandboxEntry(hit);
    },
    pod: (ns, name) => {
      const hit = find(objects.pods, ns, name);
      return hit && podEntry(hit);
    },
  };
}
const resolve = (cache: CacheReader, name: string) => resolveSandbox(cache, { namespace: NS, name });

/** A legitimate claimed sandbox, as the controller leaves it after the Sandbox adopted the Pod. */
function tenant(name: string, podName = `${name}-pod`) {
  const c = claim(name);
  const s = sandbox(name, { owner: ownerClaim(c), podName });
  const p = pod(podName, { owner: ownerSandbox(s), labels: claimedLabels(name, c) });
  return { claim: c, sandbox: s, pod: p };
}

// Two DNS-1123 names whose 32-bit FNV-1a hashes collide (found by a birthday search).
const VICTIM = 'victim-6pwv';
const FORGED = 'victim-d5fb';

describe('resolveSandbox: what routes', () => {
  test('claim → Sandbox → the Pod the Sandbox controls → its Ready IP', () => {
    const t = tenant('c1', 'warm-x');
    expect(resolve(cacheOf({ claims: [t.claim], sandboxes: [t.sandbox], pods: [t.pod] }), 'c1')).toEqual({
      kind: 'ready',
      endpoint: {
        namespace: NS,
        sandbox: 'c1',
        podName: 'warm-x',
        podUid: 'pod-uid-warm-x',
        ip: '10.0.0.7',
        canonicalIp: '10.0.0.7',
        protocol: 'unknown',
        claim: 'c1',
        claimUid: 'claim-uid-c1',
        declaredPorts: [],
        anyPort: false,
      },
    });
  });

  test("a Sandbox named unlike its claim (upstream's warm Sandboxes) routes while the claim controlling it by UID lives", () => {
    // Upstream v1.0 names a warm Sandbox like its pool's pod, and its SDK sends that name.
    const c = claim('my-claim');
    const s = sandbox('python-pool-x7k2p', { owner: ownerClaim(c) });
    const p = pod('python-pool-x7k2p', { owner: ownerSandbox(s) });
    const r = resolve(cacheOf({ claims: [c], sandboxes: [s], pods: [p] }), 'python-pool-x7k2p');
    expect(r.kind === 'ready' && r.endpoint).toMatchObject({
      sandbox: 'python-pool-x7k2p',
      claim: 'my-claim',
    });
    // The claim's own name names no Sandbox.
    expect(resolve(cacheOf({ claims: [c], sandboxes: [s], pods: [p] }), 'my-claim').kind).toBe('not_ready');
    // Gone, or replaced by a claim of the same name and a new UID: not found.
    expect(resolve(cacheOf({ sandboxes: [s], pods: [p] }), 'python-pool-x7k2p').kind).toBe('not_found');
    const replaced = { metadata: { ...c.metadata, uid: 'claim-uid-new' } };
    expect(
      resolve(cacheOf({ claims: [replaced], sandboxes: [s], pods: [p] }), 'python-pool-x7k2p').kind,
    ).toBe('not_found');
  });

  test('a cold-started Pod is named like the Sandbox (no annotation, or an empty one)', () => {
    const c = claim('c1');
    for (const podName of [undefined, '']) {
      const s = sandbox('c1', { owner: ownerClaim(c), ...(podName === undefined ? {} : { podName }) });
      const p = pod('c1', { owner: ownerSandbox(s), labels: claimedLabels('c1', c) });
      expect(resolve(cacheOf({ claims: [c], sandboxes: [s], pods: [p] }), 'c1').kind).toBe('ready');
    }
  });

  test('a warm Pod bound to the claim, before the Sandbox adopts it, routes', () => {
    const c = claim('c1');
    const s = sandbox('c1', { owner: ownerClaim(c), podName: 'warm-x' });
    const p = pod('warm-x', { owner: ownerClaim(c), labels: claimedLabels('c1', c) });
    expect(resolve(cacheOf({ claims: [c], sandboxes: [s], pods: [p] }), 'c1').kind).toBe('ready');
  });

  test('a Sandbox created directly (no claim, as upstream allows) routes to the Pod it controls', () => {
    const s = sandbox('plain');
    const p = pod('plain', {
      owner: ownerSandbox(s),
      labels: { [Labels.sandboxNameHash]: nameHash('plain') },
    });
    expect(resolve(cacheOf({ sandboxes: [s], pods: [p] }), 'plain').kind).toBe('ready');
  });

  test('the agent protocol label is read from the pod', () => {
    const t = tenant('c1');
    const p = {
      ...t.pod,
      metadata: {
        ...t.pod.metadata,
        labels: { ...t.pod.metadata.labels, 'sandbank.dev/agent-protocol': 'http' },
      },
    };
    const r = resolve(cacheOf({ claims: [t.claim], sandboxes: [t.sandbox], pods: [p] }), 'c1');
    expect(r.kind === 'ready' && r.endpoint.protocol).toBe('http');
  });
});

describe('resolveSandbox: forged links are refused', () => {
  test('the two names of this suite do collide (the premise of the next tests)', () => {
    expect(nameHash(FORGED)).toBe(nameHash(VICTIM));
  });

  test("a forged Sandbox (no claim) with a colliding name and pod-name = another tenant's Pod", () => {
    const victim = tenant(VICTIM);
    const forged = sandbox(FORGED, { podName: victim.pod.metadata.name });
    const cache = cacheOf({
      claims: [victim.claim],
      sandboxes: [victim.sandbox, forged],
      pods: [victim.pod],
    });
    expect(resolve(cache, FORGED).kind).toBe('not_ready');
    expect(resolve(cache, VICTIM).kind).toBe('ready');
  });

  test("a forged Sandbox naming another tenant's Pod, whose labels were changed to match it", () => {
    const victim = tenant('victim');
    const relabelled = pod(victim.pod.metadata.name, {
      owner: ownerSandbox(victim.sandbox),
      labels: { [Labels.sandboxNameHash]: nameHash('evil') },
    });
    const forged = sandbox('evil', { podName: victim.pod.metadata.name });
    const cache = cacheOf({
      claims: [victim.claim],
      sandboxes: [victim.sandbox, forged],
      pods: [relabelled],
    });
    expect(resolve(cache, 'evil').kind).toBe('not_ready');
  });

  test("a forged Sandbox that names the victim's claim as its controller, with a claim of its own name", () => {
    const victim = tenant('victim');
    const mine = claim('evil');
    const forged = sandbox('evil', { owner: ownerClaim(victim.claim), podName: victim.pod.metadata.name });
    const cache = cacheOf({
      claims: [victim.claim, mine],
      sandboxes: [victim.sandbox, forged],
      pods: [victim.pod],
    });
    expect(resolve(cache, 'evil').kind).toBe('not_found');
    // Without a claim of its name, the owner reference is the victim's claim (the UID is all a
    // link is): the victim's Pod, which the victim's Sandbox controls, is still not this one's.
    const alone = cacheOf({
      claims: [victim.claim],
      sandboxes: [victim.sandbox, forged],
      pods: [victim.pod],
    });
    expect(resolve(alone, 'evil').kind).toBe('not_ready');
    // And a warm Pod still controlled by the victim's claim is answered as the victim's claim's:
    // `kubernetes` mode then asks for exec on the victim's claim, not on "evil".
    const warm = pod(victim.pod.metadata.name, { owner: ownerClaim(victim.claim) });
    const r = resolve(cacheOf({ claims: [victim.claim], sandboxes: [forged], pods: [warm] }), 'evil');
    expect(r.kind === 'ready' && r.endpoint.claim).toBe('victim');
  });

  test("a claimed Sandbox naming a Pod that carries its labels but another Sandbox's controller reference", () => {
    const victim = tenant('victim');
    const c = claim('evil');
    const s = sandbox('evil', { owner: ownerClaim(c), podName: victim.pod.metadata.name });
    const copied = pod(victim.pod.metadata.name, {
      owner: ownerSandbox(victim.sandbox),
      labels: claimedLabels('evil', c),
    });
    expect(
      resolve(cacheOf({ claims: [victim.claim, c], sandboxes: [victim.sandbox, s], pods: [copied] }), 'evil')
        .kind,
    ).toBe('not_ready');
  });

  test('a Pod with the right labels and no controller at all', () => {
    const c = claim('c1');
    const s = sandbox('c1', { owner: ownerClaim(c), podName: 'p' });
    const p = pod('p', { labels: claimedLabels('c1', c) });
    expect(resolve(cacheOf({ claims: [c], sandboxes: [s], pods: [p] }), 'c1').kind).toBe('not_ready');
  });

  test("a claim's name routes only the Sandbox the claim controls", () => {
    // A Sandbox named like the claim but created by someone else (no controller, or another one):
    // the claim's user must not be sent to it.
    const c = claim('c1');
    for (const owner of [undefined, { kind: 'SandboxClaim', name: 'c1', uid: 'another-uid' } as const]) {
      const s = sandbox('c1', { ...(owner ? { owner } : {}), podName: 'p' });
      const p = pod('p', { owner: ownerSandbox(s), labels: { [Labels.sandboxNameHash]: nameHash('c1') } });
      expect(resolve(cacheOf({ claims: [c], sandboxes: [s], pods: [p] }), 'c1').kind).toBe('not_found');
    }
  });

  test('a warm Pod bound to another claim is not taken over by a Sandbox naming it', () => {
    const other = claim('other');
    const c = claim('c1');
    const s = sandbox('c1', { owner: ownerClaim(c), podName: 'warm-x' });
    const p = pod('warm-x', { owner: ownerClaim(other), labels: claimedLabels('c1', c) });
    expect(resolve(cacheOf({ claims: [c, other], sandboxes: [s], pods: [p] }), 'c1').kind).toBe('not_ready');
  });

  test('a Sandbox controlled by a claim of another name is not routed under a claim that has its name', () => {
    const owner = claim('owner');
    const namesake = claim('sb-x');
    const s = sandbox('sb-x', { owner: ownerClaim(owner) });
    const p = pod('sb-x', { owner: ownerSandbox(s) });
    expect(resolve(cacheOf({ claims: [owner, namesake], sandboxes: [s], pods: [p] }), 'sb-x').kind).toBe(
      'not_found',
    );
    expect(resolve(cacheOf({ claims: [owner], sandboxes: [s], pods: [p] }), 'sb-x').kind).toBe('ready');
  });

  test('a Sandbox whose claim is gone (or was replaced by one with a new UID) is not found', () => {
    const t = tenant('c1');
    expect(resolve(cacheOf({ sandboxes: [t.sandbox], pods: [t.pod] }), 'c1').kind).toBe('not_found');
    const replaced = { metadata: { ...t.claim.metadata, uid: 'claim-uid-new' } };
    expect(resolve(cacheOf({ claims: [replaced], sandboxes: [t.sandbox], pods: [t.pod] }), 'c1').kind).toBe(
      'not_found',
    );
  });

  test('property: whatever the labels, annotations and UIDs, a ready answer always has the ownership chain', () => {
    const uids = fc.constantFrom('u1', 'u2', 'u3', 'u4');
    const names = fc.constantFrom('a', 'b');
    const owner = fc.option(
      fc.record({
        kind: fc.constantFrom('SandboxClaim', 'Sandbox', 'SandboxWarmPool'),
        name: names,
        uid: uids,
      }),
      { nil: undefined },
    );
    const world = fc.record({
      claims: fc.uniqueArray(fc.record({ name: names, uid: uids }), {
        selector: (c) => c.name,
        maxLength: 2,
      }),
      sandboxes: fc.uniqueArray(
        fc.record({
          name: names,
          uid: uids,
          owner,
          podName: fc.option(fc.constantFrom('p', 'q', 'a', 'b'), { nil: undefined }),
        }),
        { selector: (s) => s.name, maxLength: 2 },
      ),
      pods: fc.uniqueArray(
        fc.record({
          name: fc.constantFrom('p', 'q', 'a', 'b'),
          owner,
          hash: fc.constantFrom(nameHash('a'), nameHash('b')),
          claimUid: uids,
        }),
        { selector: (p) => p.name, maxLength: 3 },
      ),
    });
    let routed = 0;
    fc.assert(
      fc.property(world, names, (w, name) => {
        const claims = w.claims.map((c) => ({ metadata: { name: c.name, namespace: NS, uid: c.uid } }));
        const sandboxes = w.sandboxes.map((s) =>
          sandbox(s.name, {
            uid: s.uid,
            ...(s.owner ? { owner: s.owner } : {}),
            ...(s.podName ? { podName: s.podName } : {}),
          }),
        );
        const pods = w.pods.map((p) =>
          pod(p.name, {
            ...(p.owner ? { owner: p.owner } : {}),
            labels: { [Labels.sandboxNameHash]: p.hash, [Labels.claimUid]: p.claimUid },
          }),
        );
        const r = resolve(cacheOf({ claims, sandboxes, pods }), name);
        if (r.kind !== 'ready') return;
        routed++;
        const s = w.sandboxes.find((x) => x.name === name);
        const c = w.claims.find((x) => x.name === name);
        const p = w.pods.find((x) => x.name === r.endpoint.podName);
        expect(s && p).toBeTruthy();
        if (!s || !p) return;
        // A claim of that name, if any, controls the Sandbox.
        expect(c === undefined || (s.owner?.kind === 'SandboxClaim' && s.owner.uid === c.uid)).toBe(true);
        // A Sandbox controlled by a claim has that claim (by UID) alive, and the answer names it.
        const ownerClaim =
          s.owner?.kind === 'SandboxClaim' ? w.claims.find((x) => x.uid === s.owner?.uid) : undefined;
        expect(s.owner?.kind !== 'SandboxClaim' || ownerClaim !== undefined).toBe(true);
        expect(r.endpoint.claim).toBe(ownerClaim?.name);
        // The Pod is the Sandbox's, or its controlling claim's.
        expect(
          (p.owner?.kind === 'Sandbox' && p.owner.uid === s.uid) ||
            (ownerClaim !== undefined && p.owner?.kind === 'SandboxClaim' && p.owner.uid === ownerClaim.uid),
        ).toBe(true);
      }),
      { numRuns: 5_000, seed: 16 },
    );
    // The generated worlds do contain routable sandboxes, so the property was exercised.
    expect(routed).toBeGreaterThan(10);
  });
});

describe('resolveSandbox: not (yet) routable', () => {
  test.each([
    ['the pod still carries the warm-pool label', { [Labels.pool]: 'h' }, true, false, 'not_ready'],
    ['the pod is not Ready', {}, false, false, 'not_ready'],
    ['the pod is terminating', {}, true, true, 'not_found'],
  ] as const)('%s', (_why, extra, ready, deleting, kind) => {
    const t = tenant('c1', 'p');
    const p = pod('p', {
      owner: ownerSandbox(t.sandbox),
      labels: { ...claimedLabels('c1', t.claim), ...extra },
      ready,
      deleting,
    });
    expect(resolve(cacheOf({ claims: [t.claim], sandboxes: [t.sandbox], pods: [p] }), 'c1').kind).toBe(kind);
  });

  test('a claim without its Sandbox yet is not ready; nothing at all is not found', () => {
    expect(resolve(cacheOf({ claims: [claim('c1')] }), 'c1').kind).toBe('not_ready');
    expect(resolve(cacheOf({}), 'zz').kind).toBe('not_found');
  });
});

describe("the pod's IP as the cache keeps it", () => {
  const cachedIp = (podIP: string) => {
    const view = PodView.parse({
      metadata: { name: 'p', namespace: NS, uid: 'pod-uid-p' },
      status: { phase: 'Running', podIP },
    });
    const entry = podEntry(view);
    return { ip: entry.ip, canonicalIp: entry.canonicalIp };
  };

  test.each([
    ['10.0.0.7', '10.0.0.7'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['FD00:0:0::7', 'fd00::7'],
    ['::ffff:10.0.0.7', '::ffff:10.0.0.7'],
  ])('%s is canonicalised once, when the Pod is parsed, and dialled as written', (podIP, canonical) => {
    expect(cachedIp(podIP)).toEqual({ ip: podIP, canonicalIp: canonical });
  });

  test.each(['', 'pod.example', 'fe80::1%eth0', '10.0.0.7,10.0.0.8', ' 10.0.0.7'])(
    '%j has no canonical form: no X-Sandbox-Pod-IP hint can match it',
    (podIP) => {
      expect(cachedIp(podIP).canonicalIp).toBeUndefined();
    },
  );
});

describe("a Pod's ports, as the port route reads them", () => {
  const withSpec = (spec: unknown, annotations: Record<string, string> = {}) =>
    podEntry(
      PodView.parse({
        metadata: { name: 'p', namespace: NS, uid: 'pod-uid-p', annotations },
        spec,
        status: { phase: 'Running', podIP: '10.0.0.7', conditions: [{ type: 'Ready', status: 'True' }] },
      }),
    );

  test('declared TCP container ports of every container, once each, sorted; UDP ones are not', () => {
    const p = withSpec({
      containers: [
        { name: 'a', ports: [{ containerPort: 8888 }, { containerPort: 3000, protocol: 'TCP' }] },
        { name: 'b', ports: [{ containerPort: 3000 }, { containerPort: 53, protocol: 'UDP' }] },
        { name: 'c' },
      ],
    });
    expect(p.declaredPorts).toEqual([3000, 8888]);
    expect(p.anyPort).toBe(false);
  });

  test('a spec the router cannot read declares nothing, and the Pod still routes', () => {
    const p = withSpec({ containers: [{ ports: [{ containerPort: 'http' }] }] });
    expect(p.declaredPorts).toEqual([]);
    expect(p.ready).toBe(true);
    expect(withSpec(undefined).declaredPorts).toEqual([]);
  });

  test('sandbank.dev/expose-any-port opens any port only when exactly "true"', () => {
    expect(withSpec({ containers: [] }, { 'sandbank.dev/expose-any-port': 'true' }).anyPort).toBe(true);
    expect(withSpec({ containers: [] }, { 'sandbank.dev/expose-any-port': 'yes' }).anyPort).toBe(false);
  });
});

describe("a Pod's OOM kills, as the cache keeps them", () => {
  const withStatus = (containerStatuses: unknown, uid = 'pod-uid-p') =>
    podEntry(
      PodView.parse({
        metadata: { name: 'p', namespace: NS, uid },
        status: {
          phase: 'Running',
          podIP: '10.0.0.7',
          conditions: [{ type: 'Ready', status: 'True' }],
          containerStatuses,
        },
      }),
    );
  const killed = (finishedAt: string) => [
    { name: 'c', state: { running: {} }, lastState: { terminated: { reason: 'OOMKilled', finishedAt } } },
  ];
  const ref = { namespace: NS, name: 'p', uid: 'pod-uid-p' };

  test('the last OOMKilled termination is kept; a status the router cannot read records none, and the Pod still routes', () => {
    expect(withStatus(killed('2026-12-07T10:00:00Z')).lastOomKillMs).toBe(Date.parse('2026-12-07T10:00:00Z'));
    const unreadable = withStatus([{ state: { terminated: 'OOMKilled' } }]);
    expect(unreadable.lastOomKillMs).toBeUndefined();
    expect(unreadable.ready).toBe(true);
  });

  test('a kill counts only on the same Pod (by UID) and only when newer than the one known at routing', () => {
    const at = Date.parse('2026-12-07T10:00:00Z');
    const pod = withStatus(killed('2026-12-07T10:00:00Z'));
    expect(oomKilledAfter(pod, ref, undefined)).toBe(true);
    expect(oomKilledAfter(pod, ref, at - 1000)).toBe(true);
    // Only the kill known at routing: not yet known whether a newer one comes (the wait goes on).
    expect(oomKilledAfter(pod, ref, at)).toBeUndefined();
    expect(oomKilledAfter(pod, { ...ref, uid: 'another-pod' }, undefined)).toBe(false);
    expect(oomKilledAfter(withStatus([]), ref, undefined)).toBeUndefined();
    expect(oomKilledAfter(undefined, ref, undefined)).toBe(false);
  });
});
