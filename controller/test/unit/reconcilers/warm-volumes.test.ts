/**
 * #18 bug 4b: a template with volumeClaimTemplates. Its pool members get their volume claims
 * (`<template>-<pod>`, owned by the Pod) and mount them, claims bind such members warm, and the
 * Sandbox adopts the claims of the Pod it adopts before anything may delete that Pod.
 */
import { Annotations, Labels, nameHash, type Pod, type Stored } from '@sandbank/api';
import { planClaim, type ClaimObserved } from '../../../src/reconcilers/sandbox-claim/plan.js';
import {
  missingMemberClaims,
  planPool,
  type PoolObserved,
} from '../../../src/reconcilers/sandbox-warm-pool/plan.js';
import { planSandbox, type SandboxObserved } from '../../../src/reconcilers/sandbox/plan.js';
import { memberClaims, withClaimVolumes } from '../../../src/reconcilers/shared/pure-pods.js';
import { DEFAULT_SANDBOX_PROFILE } from '../../../src/reconcilers/shared/pure-profile.js';
import { T0, claim, claimedSandbox, member, pool, template } from '../../fixtures/builders.js';

const VCTS = [
  {
    metadata: { name: 'data', labels: { tier: 'disk' } },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  },
];
const tpl = template('python', { volumeClaimTemplates: VCTS });
const warm = pool('warm', tpl, 2);

/** A member as the pool's apply makes one: named, mounting `data-<name>`. */
function mounted(name: string, o: Parameters<typeof member>[3] = {}): Stored<Pod> {
  const pod = member(name, warm, tpl, o);
  return {
    ...pod,
    spec: { ...pod.spec, volumes: [{ name: 'data', persistentVolumeClaim: { claimName: `data-${name}` } }] },
  };
}

function poolObserved(members: PoolObserved['members'], claims: string[] = []): PoolObserved {
  return {
    pool: warm,
    template: tpl,
    members,
    missingClaims: missingMemberClaims(members, VCTS, (name) => claims.includes(name)),
    expectationsSatisfied: true,
    expectationsExpireInMs: 0,
    profile: DEFAULT_SANDBOX_PROFILE,
  };
}

describe('pool members of a template with volumeClaimTemplates', () => {
  it('creates members that apply names, each mounting its own claims', () => {
    const plan = planPool(poolObserved([]));
    const create = plan.actions.find((a) => a.type === 'create-pods');
    if (create?.type !== 'create-pods') throw new Error(`expected create-pods: ${JSON.stringify(plan)}`);
    expect(create.count).toBe(2);
    expect(create.volumeClaimTemplates).toEqual(VCTS);

    const pod = withClaimVolumes(create.pod, 'warm-x7k2p', create.volumeClaimTemplates);
    expect(pod.metadata.name).toBe('warm-x7k2p');
    expect(pod.metadata.generateName).toBeUndefined();
    expect(pod.spec['volumes']).toEqual(
      expect.arrayContaining([{ name: 'data', persistentVolumeClaim: { claimName: 'data-warm-x7k2p' } }]),
    );
    const [pvc] = memberClaims({ metadata: { name: 'warm-x7k2p', uid: 'pod-uid' } }, VCTS);
    expect(pvc).toMatchObject({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: 'data-warm-x7k2p',
        labels: { tier: 'disk' },
        ownerReferences: [
          { apiVersion: 'v1', kind: 'Pod', name: 'warm-x7k2p', uid: 'pod-uid', controller: true },
        ],
      },
      spec: VCTS[0]?.spec,
    });
  });

  it('still lets the API server name members of a template without them', () => {
    const plain = template('plain');
    const plan = planPool({ ...poolObserved([]), pool: pool('p', plain, 1), template: plain });
    const create = plan.actions.find((a) => a.type === 'create-pods');
    expect(create?.type === 'create-pods' && create.volumeClaimTemplates).toEqual([]);
    expect(create?.type === 'create-pods' && create.pod.metadata.generateName).toBe('p-');
  });

  it('creates the claims a member lacks (a crash between its create and theirs)', () => {
    const plan = planPool(poolObserved([mounted('warm-a'), mounted('warm-b')], ['data-warm-a']));
    const repair = plan.actions.filter((a) => a.type === 'create-pvcs');
    expect(repair).toHaveLength(1);
    expect(repair[0]?.type === 'create-pvcs' && repair[0].pvcs.map((p) => p.metadata.name)).toEqual([
      'data-warm-b',
    ]);
    expect(repair[0]?.type === 'create-pvcs' && repair[0].pvcs[0]?.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Pod', name: 'warm-b', uid: 'warm-b-uid' }),
    ]);
    expect(plan.actions.filter((a) => a.type === 'create-pods' || a.type === 'delete-pods')).toEqual([]);
  });

  it('replaces members that do not mount the claims the template now asks for, whatever the strategy', () => {
    const old = member('warm-old', warm, tpl);
    const plan = planPool(poolObserved([old, mounted('warm-b')], ['data-warm-b']));
    expect(plan.actions).toEqual(
      expect.arrayContaining([
        { type: 'delete-pods', pods: [{ name: 'warm-old', uid: 'warm-old-uid', resourceVersion: '10' }] },
        expect.objectContaining({ type: 'create-pods', count: 1 }),
      ]),
    );
  });

  it("keeps members whose pod template declares a volume of the claim template's name itself", () => {
    const own = template('own', {
      volumeClaimTemplates: VCTS,
      podTemplate: {
        spec: { containers: [{ name: 'agent' }], volumes: [{ name: 'data', emptyDir: {} }] },
      },
    });
    const p = pool('own-pool', own, 1);
    const pod = member('own-a', p, own);
    const withOwn = { ...pod, spec: { ...pod.spec, volumes: [{ name: 'data', emptyDir: {} }] } };
    const plan = planPool({ ...poolObserved([withOwn], ['data-own-a']), pool: p, template: own });
    expect(plan.actions).toEqual([]);
  });

  it('replaces members that still mount a claim the template no longer asks for', () => {
    const plain = template('python');
    const plan = planPool({ ...poolObserved([mounted('warm-a')], ['data-warm-a']), template: plain });
    expect(plan.actions.map((a) => a.type)).toEqual(['delete-pods', 'create-pods']);
  });
});

describe('claims of a template with volumeClaimTemplates', () => {
  it('bind a Ready member warm instead of always cold-starting', () => {
    const c = claim('c1', tpl);
    const observed: ClaimObserved = {
      claim: c,
      template: tpl,
      pools: [warm],
      sandbox: undefined,
      boundPods: [],
      templatePods: [mounted('warm-a')],
      profile: DEFAULT_SANDBOX_PROFILE,
    };
    const plan = planClaim(observed, T0);
    const bind = plan.actions[0];
    if (bind?.type !== 'bind-warm') throw new Error(`expected bind-warm: ${JSON.stringify(plan.actions)}`);
    expect(bind.candidates.map((p) => p.name)).toEqual(['warm-a']);
    expect(bind.sandbox.spec.volumeClaimTemplates).toEqual(VCTS);
  });
});

describe('a Sandbox bound to a member with volume claims', () => {
  const c = claim('c1', tpl);
  const base = claimedSandbox(c, [], 'warm-a');
  const sandbox = { ...base, spec: { ...base.spec, volumeClaimTemplates: VCTS } };
  const sandboxUid = sandbox.metadata.uid;
  const ownedBy = (pod: Stored<Pod>, kind: string, uid: string): Stored<Pod> => ({
    ...pod,
    metadata: {
      ...pod.metadata,
      labels: { ...pod.metadata.labels, [Labels.claimUid]: 'c1-uid' },
      ownerReferences: [{ apiVersion: 'x', kind, name: 'owner', uid, controller: true }],
    },
  });
  const podClaim = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: 'data-warm-a',
      namespace: 'default',
      uid: 'pvc-uid',
      resourceVersion: '42',
      ownerReferences: [
        { apiVersion: 'v1', kind: 'Pod', name: 'warm-a', uid: 'warm-a-uid', controller: true },
      ],
    },
    spec: VCTS[0]?.spec,
  };
  const observed = (pod: Stored<Pod> | undefined, s = sandbox): SandboxObserved => ({
    sandbox: s,
    pod,
    service: undefined,
    existingClaims: new Map([['data-warm-a', podClaim]]),
    clusterDomain: 'cluster.local',
    profile: DEFAULT_SANDBOX_PROFILE,
  });

  it("adopts the Pod's claims (guarded by their version) instead of creating claims of its own name", () => {
    const plan = planSandbox(observed(ownedBy(mounted('warm-a'), 'Sandbox', sandboxUid)), T0);
    expect(plan.actions).toEqual([
      {
        type: 'adopt-pvc',
        name: 'data-warm-a',
        resourceVersion: '42',
        labels: { [Labels.sandboxNameHash]: nameHash('c1') },
        ownerReferences: [expect.objectContaining({ kind: 'Sandbox', uid: sandboxUid, controller: true })],
      },
    ]);
    expect(plan.status?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({ status: 'True' });
  });

  it('keeps the Pod while its claims are not adopted yet, even when suspended, so they are not collected with it', () => {
    const suspended = { ...sandbox, spec: { ...sandbox.spec, operatingMode: 'Suspended' as const } };
    const plan = planSandbox(observed(ownedBy(mounted('warm-a'), 'Sandbox', sandboxUid), suspended), T0);
    expect(plan.actions.map((a) => a.type)).toEqual(['adopt-pvc']);
    const adopted = {
      ...podClaim,
      metadata: {
        ...podClaim.metadata,
        ownerReferences: [
          { apiVersion: 'x', kind: 'Sandbox', name: 'c1', uid: sandboxUid, controller: true },
        ],
      },
    };
    const next = planSandbox(
      {
        ...observed(ownedBy(mounted('warm-a'), 'Sandbox', sandboxUid), suspended),
        existingClaims: new Map([['data-warm-a', adopted]]),
      },
      T0,
    );
    expect(next.actions).toEqual([{ type: 'delete-pod', name: 'warm-a', uid: 'warm-a-uid' }]);
  });

  it('resumes on a Pod of the warm name mounting the same claims', () => {
    const resumed = planSandbox(
      observed(undefined, {
        ...sandbox,
        metadata: { ...sandbox.metadata, annotations: { [Annotations.podName]: 'warm-a' } },
        status: {
          replicas: 0,
          conditions: [
            {
              type: 'Suspended',
              status: 'True',
              reason: 'PodTerminated',
              message: '',
              lastTransitionTime: '',
            },
          ],
        },
      }),
      T0,
    );
    const create = resumed.actions.find((a) => a.type === 'create-pod');
    if (create?.type !== 'create-pod') throw new Error(`expected create-pod: ${JSON.stringify(resumed)}`);
    expect(create.pod.spec['volumes']).toEqual(
      expect.arrayContaining([{ name: 'data', persistentVolumeClaim: { claimName: 'data-warm-a' } }]),
    );
  });
});
