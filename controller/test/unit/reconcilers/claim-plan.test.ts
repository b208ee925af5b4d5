import { Annotations, Labels, nameHash } from '@sandbank/api';
import { bindStatuses, boundPod, planClaim } from '../../../src/reconcilers/sandbox-claim/plan.js';
import {
  T0,
  boundMember,
  claim,
  claimedSandbox,
  condition,
  member,
  pool,
  template,
} from '../../fixtures/builders.js';
import { claimObservedWith, readyOf, withGeneration } from '../../fixtures/claim-plan.js';

const tpl = template('python');
const warm = pool('warm', tpl, 3);
const observed = claimObservedWith({ template: tpl, pools: [warm] });

describe('planClaim: binding', () => {
  it('binds a Ready warm pod, fresh ones first, and falls back to a cold start', () => {
    const pods = [
      member('warm-a', warm, tpl, { stale: true }),
      member('warm-b', warm, tpl),
      member('warm-c', warm, tpl, { ready: false }),
    ];
    const plan = planClaim(observed(claim('c1', tpl), { templatePods: pods }), T0);
    const bind = plan.actions[0];
    expect(bind?.type).toBe('bind-warm');
    if (bind?.type !== 'bind-warm') return;
    expect(bind.candidates.map((c) => c.name)).toEqual(['warm-b', 'warm-a']);
    expect(bind.sandbox.metadata).toMatchObject({ name: 'c1', annotations: { [Annotations.podName]: '' } });
    expect(bind.sandbox.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'SandboxClaim', uid: 'c1-uid', controller: true }),
    ]);
    expect(bind.fallback.metadata.annotations).not.toHaveProperty([Annotations.podName]);
    expect(readyOf(plan)).toMatchObject({ status: 'False', reason: 'Pending' });
  });

  it('spreads concurrent claims over the candidates', () => {
    const pods = Array.from({ length: 8 }, (_, i) => member(`warm-${i}`, warm, tpl));
    const firsts = new Set(
      Array.from({ length: 16 }, (_, i) => {
        const action = planClaim(observed(claim(`c${i}`, tpl), { templatePods: pods }), T0).actions[0];
        return action?.type === 'bind-warm' ? action.candidates[0]?.name : undefined;
      }),
    );
    expect(firsts.size).toBeGreaterThan(3);
  });

  it('never offers pods of another pool when the claim names one, nor already claimed pods', () => {
    const other = pool('other', tpl, 1);
    const pods = [
      member('o-1', other, tpl),
      member('w-1', warm, tpl, { claimUid: 'someone-else' }),
      member('w-2', warm, tpl),
    ];
    const plan = planClaim(
      observed(claim('c1', tpl, { warmpool: 'warm' }), { pools: [warm, other], templatePods: pods }),
      T0,
    );
    const bind = plan.actions[0];
    expect(bind?.type === 'bind-warm' ? bind.candidates.map((c) => c.name) : []).toEqual(['w-2']);
  });

  it.each([
    ['the pool is empty', {}, []],
    ['warmpool is none', { warmpool: 'none' }, ['warm-a']],
    ['env is set', { env: [{ name: 'MODE', value: 'x' }] }, ['warm-a']],
  ])('cold-starts at once when %s', (_why, spec, podNames) => {
    const t = template('python', { envVarsInjectionPolicy: 'Allowed' });
    const pods = podNames.map((n) => member(n, warm, t));
    const plan = planClaim(observed(claim('c1', t, spec), { template: t, templatePods: pods }), T0);
    expect(plan.actions).toEqual([expect.objectContaining({ type: 'create-sandbox', launchType: 'cold' })]);
    const create = plan.actions[0];
    if (create?.type !== 'create-sandbox') return;
    expect(create.sandbox.metadata.name).toBe('c1');
    expect(create.sandbox.metadata.labels).toMatchObject({
      [Labels.claimUid]: 'c1-uid',
      [Labels.launchType]: 'cold',
    });
  });

  it('merges env and extra metadata into a cold sandbox', () => {
    const t = template('python', { envVarsInjectionPolicy: 'Overrides' });
    const c = claim('c1', t, {
      env: [
        { name: 'HOME', value: '/tmp' },
        { name: 'MODE', value: 'x' },
      ],
      additionalPodMetadata: { labels: { team: 'ml' }, annotations: { note: 'n' } },
    });
    const create = planClaim(observed(c, { template: t }), T0).actions[0];
    expect(create?.type).toBe('create-sandbox');
    if (create?.type !== 'create-sandbox') return;
    expect(create.sandbox.spec.podTemplate.metadata).toEqual({
      labels: { app: 'sandbox', team: 'ml' },
      annotations: { note: 'n' },
    });
    expect(create.sandbox.spec.podTemplate.spec.containers[0]?.['env']).toEqual([
      { name: 'HOME', value: '/tmp' },
      { name: 'MODE', value: 'x' },
    ]);
  });

  it('re-attaches a pod bound before a crash instead of binding another', () => {
    const c = claim('c1', tpl);
    const bound = member('warm-a', warm, tpl, { claimUid: 'c1-uid' });
    const plan = planClaim(
      observed(c, { boundPods: [bound], templatePods: [bound, member('warm-b', warm, tpl)] }),
      T0,
    );
    expect(plan.actions).toEqual([expect.objectContaining({ type: 'create-sandbox', launchType: 'warm' })]);
    const create = plan.actions[0];
    expect(
      create?.type === 'create-sandbox' && create.sandbox.metadata.annotations?.[Annotations.podName],
    ).toBe('warm-a');
  });
});

describe('planClaim: typed terminal failures', () => {
  it.each([
    ['TemplateNotFound', claim('c1', 'missing'), { template: undefined }],
    ['WarmPoolNotFound', claim('c1', tpl, { warmpool: 'nope' }), {}],
    [
      'WarmPoolNotFound',
      claim('c1', tpl, { warmpool: 'other' }),
      { pools: [warm, pool('other', template('node'), 1)] },
    ],
    [
      'InvalidMetadata',
      claim('c1', tpl, { additionalPodMetadata: { labels: { 'agents.x-k8s.io/pool': 'x' } } }),
      {},
    ],
    ['InvalidMetadata', claim('c1', tpl, { additionalPodMetadata: { labels: { app: 'other' } } }), {}],
    [
      'InvalidMetadata',
      claim('c1', tpl, { additionalPodMetadata: { labels: { app: 'sandbox-router' } } }),
      {},
    ],
    ['EnvVarsInjectionRejected', claim('c1', tpl, { env: [{ name: 'A', value: 'b' }] }), {}],
  ] as const)('%s', (reason, c, extra) => {
    const plan = planClaim(observed(c, extra), T0);
    expect(readyOf(plan)).toMatchObject({ status: 'False', reason, observedGeneration: 1 });
    expect(plan.actions).toEqual([expect.objectContaining({ type: 'event', eventType: 'Warning', reason })]);
  });

  it('rejects env that would override the template under policy Allowed, and unknown containers', () => {
    const t = template('python', { envVarsInjectionPolicy: 'Allowed' });
    const override = planClaim(
      observed(claim('c1', t, { env: [{ name: 'HOME', value: '/' }] }), { template: t }),
      T0,
    );
    expect(readyOf(override)).toMatchObject({ reason: 'EnvVarsInjectionRejected' });
    const unknown = planClaim(
      observed(claim('c1', t, { env: [{ name: 'X', value: '1', containerName: 'nope' }] }), { template: t }),
      T0,
    );
    expect(readyOf(unknown)?.message).toContain('no container named nope');
  });

  it('does not hot-loop: an unchanged terminal claim plans nothing', () => {
    const c = claim('c1', 'missing', {}, { conditions: [condition('Ready', 'False', 'TemplateNotFound')] });
    expect(planClaim(observed(c, { template: undefined }), T0)).toEqual({ actions: [], status: null });
  });
});

describe('planClaim: status from the Sandbox', () => {
  it('is Ready with the sandbox name and IPs once the Sandbox is', () => {
    const c = claim('c1', tpl);
    const plan = planClaim(
      observed(c, { sandbox: claimedSandbox(c, [condition('Ready', 'True', 'DependenciesReady')]) }),
      T0,
    );
    expect(readyOf(plan)).toMatchObject({ status: 'True', reason: 'DependenciesReady' });
    expect(plan.status?.sandbox).toEqual({ name: 'c1', podIPs: ['10.244.0.7'] });
    expect(plan.actions).toEqual([]);
  });

  it("forwards the Sandbox's reason while it is not Ready, and PodFailed once it finished", () => {
    const c = claim('c1', tpl);
    const notReady = planClaim(
      observed(c, { sandbox: claimedSandbox(c, [condition('Ready', 'False', 'DependenciesNotReady')]) }),
      T0,
    );
    expect(readyOf(notReady)).toMatchObject({ status: 'False', reason: 'DependenciesNotReady' });
    const failed = planClaim(
      observed(c, {
        sandbox: claimedSandbox(c, [
          condition('Ready', 'False', 'PodFailed'),
          condition('Finished', 'True', 'PodFailed'),
        ]),
      }),
      T0,
    );
    expect(readyOf(failed)).toMatchObject({ status: 'False', reason: 'PodFailed' });
  });

  it('does not adopt a Sandbox of the same name that belongs to something else', () => {
    const c = claim('c1', tpl);
    const foreign = {
      ...claimedSandbox(c),
      metadata: { ...claimedSandbox(c).metadata, ownerReferences: [] },
    };
    const plan = planClaim(observed(c, { sandbox: foreign }), T0);
    expect(readyOf(plan)?.message).toContain('belongs to something else');
    expect(plan.actions).toEqual([]);
  });

  it('releases a Pod it bound before finding the name taken, and only a Pod it controls', () => {
    const c = claim('c1', tpl);
    const foreign = {
      ...claimedSandbox(c),
      metadata: { ...claimedSandbox(c).metadata, ownerReferences: [] },
    };
    const mine = boundMember('warm-a', warm, tpl, c);
    const forged = member('victim', warm, tpl, { claimUid: 'c1-uid' });
    const plan = planClaim(
      observed(c, { sandbox: foreign, boundPods: [mine, forged], templatePods: [forged] }),
      T0,
    );
    expect(plan.actions).toEqual([{ type: 'delete-pod', pod: { name: 'warm-a', uid: 'warm-a-uid' } }]);
  });

  it('releases bound pods the Sandbox does not use, and only Pods it controls', () => {
    const c = claim('c1', tpl);
    const stray = boundMember('warm-x', warm, tpl, c);
    const forged = member('victim', warm, tpl, { claimUid: 'c1-uid' });
    const plan = planClaim(
      observed(c, { sandbox: claimedSandbox(c, [], 'warm-a'), boundPods: [stray, forged] }),
      T0,
    );
    expect(plan.actions).toEqual([{ type: 'delete-pod', pod: { name: 'warm-x', uid: 'warm-x-uid' } }]);
  });
});

describe('planClaim: lifecycle', () => {
  const later = new Date(T0.getTime() + 60_000);

  it('requeues at shutdownTime, then deletes the claim under policy Delete', () => {
    const c = claim('c1', tpl, {
      lifecycle: { shutdownTime: later.toISOString(), shutdownPolicy: 'Delete' },
    });
    expect(planClaim(observed(c), T0).requeueAfterMs).toBe(60_000);
    expect(planClaim(observed(c), later).actions).toEqual([
      { type: 'delete-claim', propagation: 'Background' },
    ]);
  });

  it('under Retain deletes the sandbox and marks the claim ClaimExpired, and never binds again', () => {
    const c = claim('c1', tpl, { lifecycle: { shutdownTime: T0.toISOString(), shutdownPolicy: 'Retain' } });
    const plan = planClaim(
      observed(c, { sandbox: claimedSandbox(c), templatePods: [member('w', warm, tpl)] }),
      T0,
    );
    expect(plan.actions).toEqual([{ type: 'delete-sandbox' }]);
    expect(readyOf(plan)).toMatchObject({ status: 'False', reason: 'ClaimExpired' });
    const after = planClaim(observed(c, { templatePods: [member('w', warm, tpl)] }), later);
    expect(after.actions).toEqual([]);
  });

  it('expires ttlSecondsAfterFinished after the sandbox finished', () => {
    const c = claim('c1', tpl, {
      lifecycle: { ttlSecondsAfterFinished: 30, shutdownPolicy: 'DeleteForeground' },
    });
    const sandbox = claimedSandbox(c, [condition('Finished', 'True', 'PodSucceeded', T0.toISOString())]);
    expect(planClaim(observed(c, { sandbox }), T0).requeueAfterMs).toBe(30_000);
    expect(planClaim(observed(c, { sandbox }), new Date(T0.getTime() + 30_000)).actions).toEqual([
      { type: 'delete-claim', propagation: 'Foreground' },
    ]);
  });
});

describe('boundPod', () => {
  it('drops the pool label and owner, labels and owns the pod for the claim, keeps the rest', () => {
    const pod = member('warm-a', warm, tpl);
    const bound = boundPod(pod, claim('c1', tpl));
    expect(bound.metadata.labels).not.toHaveProperty([Labels.pool]);
    expect(bound.metadata.labels).toMatchObject({
      [Labels.claimUid]: 'c1-uid',
      [Labels.sandboxNameHash]: nameHash('c1'),
    });
    expect(bound.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'SandboxClaim', name: 'c1', controller: true }),
    ]);
    expect(bound.metadata.resourceVersion).toBe('10');
    expect(pod.metadata.labels).toHaveProperty([Labels.pool]);
  });
});

describe('bindStatuses', () => {
  const later = new Date(T0.getTime() + 5_000);

  it('marks the Sandbox and the claim Ready, each at its own generation', () => {
    const c = withGeneration(claim('c1', tpl), 4);
    const sandbox = withGeneration(claimedSandbox(c, [], 'warm-a'), 2);
    const pod = member('warm-a', warm, tpl);
    const statuses = bindStatuses({ claim: c, sandbox, pod, now: later });
    expect(statuses.sandbox).toEqual({
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'DependenciesReady',
          message: 'Pod warm-a is Ready',
          observedGeneration: 2,
          lastTransitionTime: later.toISOString(),
        },
      ],
      podIPs: ['10.244.0.7'],
      replicas: 1,
      selector: `${Labels.sandboxNameHash}=${nameHash('c1')}`,
    });
    expect(statuses.claim?.conditions).toEqual([
      expect.objectContaining({
        type: 'Ready',
        status: 'True',
        reason: 'DependenciesReady',
        observedGeneration: 4,
      }),
    ]);
    expect(statuses.claim?.sandbox).toEqual({ name: 'c1', podIPs: ['10.244.0.7'] });
  });

  it('merges Ready into the conditions each object has, leaving the others as they are', () => {
    const reviewed = condition('Reviewed', 'True', 'ByHand');
    const c = claim('c1', tpl, {}, { conditions: [reviewed, condition('Ready', 'False', 'Pending')] });
    const suspended = condition('Suspended', 'False', 'PodTerminating');
    const sandbox = claimedSandbox(c, [suspended], 'warm-a');
    const statuses = bindStatuses({ claim: c, sandbox, pod: member('warm-a', warm, tpl), now: later });
    expect(statuses.claim?.conditions).toEqual([
      reviewed,
      expect.objectContaining({ type: 'Ready', status: 'True', lastTransitionTime: later.toISOString() }),
    ]);
    expect(statuses.sandbox.conditions).toEqual([
      suspended,
      expect.objectContaining({ type: 'Ready', status: 'True' }),
    ]);
  });

  it('writes no claim status when the claim already says it is Ready on that sandbox', () => {
    const c = claim(
      'c1',
      tpl,
      {},
      {
        conditions: [{ ...condition('Ready', 'True', 'DependenciesReady'), message: 'Pod warm-a is Ready' }],
        sandbox: { name: 'c1', podIPs: ['10.244.0.7'] },
      },
    );
    const sandbox = claimedSandbox(c, [], 'warm-a');
    expect(
      bindStatuses({ claim: c, sandbox, pod: member('warm-a', warm, tpl), now: later }).claim,
    ).toBeNull();
  });
});
