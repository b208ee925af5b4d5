/**
 * What an upstream v1beta1 client observes of a claim (issue #18): the Sandbox's Ready forwarded
 * verbatim (so the SDK fails fast on PodFailed instead of waiting out its timeout), `Finished`
 * mirrored, `status.sandbox` with the Service's name; the claim's own volume claim templates per
 * the template's policy; extra pod metadata on a warm bind; which pool members a claim may take.
 */
import { Annotations, Labels, type Pod, type Stored } from '@sandbank/api';
import {
  bindStatuses,
  boundPod,
  planClaim,
  waitsForPoolOrTemplate,
} from '../../../src/reconcilers/sandbox-claim/plan.js';
import { T0, claimedSandbox, condition, member, pool, poolClaim, template } from '../../fixtures/builders.js';
import { claimObservedWith, conditionOf, withGeneration } from '../../fixtures/claim-plan.js';

const tpl = template('python');
const warm = pool('warm', tpl, 2);
const observed = claimObservedWith({ template: tpl, pools: [warm] });
const vct = (name: string, storage = '1Gi') => ({
  metadata: { name },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } },
});

describe("a claim's Ready is its Sandbox's, verbatim", () => {
  it.each([
    ['True', 'DependenciesReady', 'Pod c1 is Ready'],
    ['False', 'DependenciesNotReady', 'Pod exists with phase Pending'],
    ['False', 'SandboxSuspended', 'operatingMode is Suspended'],
    ['False', 'PodFailed', 'Pod c1 failed: Evicted: low memory'],
    ['False', 'PodSucceeded', 'Pod c1 succeeded'],
    ['False', 'SandboxExpired', 'The sandbox passed its shutdownTime'],
    ['False', 'TemplateRejected', 'The pod template breaks the sandbox profile: hostNetwork'],
  ] as const)('%s/%s', (status, reason, message) => {
    const c = withGeneration(poolClaim('c1', 'warm'), 3);
    const sandbox = withGeneration(
      claimedSandbox(c, [{ ...condition('Ready', status, reason, T0.toISOString(), 7), message }]),
      7,
    );
    const plan = planClaim(observed(c, { sandbox }), T0);
    expect(conditionOf(plan, 'Ready')).toEqual({
      type: 'Ready',
      status,
      reason,
      message,
      observedGeneration: 3,
      lastTransitionTime: T0.toISOString(),
    });
    expect(plan.status?.sandbox).toEqual({ name: 'c1', podIPs: ['10.244.0.7'] });
  });

  it('mirrors Finished, and fails a claim whose Pod failed as PodFailed (not SandboxFailed)', () => {
    const c = poolClaim('c1', 'warm');
    const failed = { ...condition('Ready', 'False', 'PodFailed'), message: 'Pod c1 failed: OOMKilled' };
    const finished = { ...condition('Finished', 'True', 'PodFailed'), message: 'Pod c1 failed: OOMKilled' };
    const plan = planClaim(observed(c, { sandbox: claimedSandbox(c, [failed, finished]) }), T0);
    expect(conditionOf(plan, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'PodFailed',
      message: 'Pod c1 failed: OOMKilled',
    });
    expect(conditionOf(plan, 'Finished')).toMatchObject({
      status: 'True',
      reason: 'PodFailed',
      message: 'Pod c1 failed: OOMKilled',
      observedGeneration: 1,
    });
  });

  it('says SandboxNotReady only while the Sandbox has no Ready condition', () => {
    const c = poolClaim('c1', 'warm');
    const plan = planClaim(observed(c, { sandbox: claimedSandbox(c) }), T0);
    expect(conditionOf(plan, 'Ready')).toMatchObject({ status: 'False', reason: 'SandboxNotReady' });
  });

  it("names the Sandbox's Service in status.sandbox.serviceFQDN", () => {
    const c = poolClaim('c1', 'warm');
    const base = claimedSandbox(c, [condition('Ready', 'True', 'DependenciesReady')]);
    const sandbox = {
      ...base,
      status: { ...base.status, service: 'c1', serviceFQDN: 'c1.default.svc.cluster.local' },
    };
    expect(planClaim(observed(c, { sandbox }), T0).status?.sandbox).toEqual({
      name: 'c1',
      podIPs: ['10.244.0.7'],
      serviceFQDN: 'c1.default.svc.cluster.local',
    });
  });

  it('never starts over once its Pod failed, even when the Sandbox is gone', () => {
    const c = poolClaim('c1', 'warm', {}, { conditions: [condition('Ready', 'False', 'PodFailed')] });
    const plan = planClaim(observed(c, { templatePods: [member('w-1', warm, tpl)] }), T0);
    expect(plan).toEqual({ actions: [], status: null });
  });

  it('names its Sandbox in the status from the first write of a cold start', () => {
    const plan = planClaim(observed(poolClaim('c1', 'warm')), T0);
    expect(plan.actions).toEqual([expect.objectContaining({ type: 'create-sandbox', launchType: 'cold' })]);
    expect(plan.status?.sandbox).toEqual({ name: 'c1', podIPs: [] });
  });

  it("labels the Sandbox with upstream's launch type and the client that made the claim", () => {
    const c = poolClaim('c1', 'warm');
    const byPython = {
      ...c,
      metadata: { ...c.metadata, labels: { 'agents.x-k8s.io/created-by': 'python-client' } },
    };
    const create = planClaim(observed(byPython), T0).actions[0];
    expect(create?.type === 'create-sandbox' && create.sandbox.metadata.labels).toMatchObject({
      'agents.x-k8s.io/launch-type': 'cold',
      'agents.x-k8s.io/created-by': 'python-client',
    });
  });
});

describe('bindStatuses', () => {
  it("writes the claim's name and the Sandbox's Ready, forwarded, in one claim status", () => {
    const c = withGeneration(poolClaim('c1', 'warm'), 4);
    const sandbox = withGeneration(claimedSandbox(c, [], 'warm-a'), 2);
    const statuses = bindStatuses({ claim: c, sandbox, pod: member('warm-a', warm, tpl), now: T0 });
    const sandboxReady = statuses.sandbox.conditions?.find((x) => x.type === 'Ready');
    expect(sandboxReady).toMatchObject({
      status: 'True',
      reason: 'DependenciesReady',
      observedGeneration: 2,
    });
    expect(statuses.claim).toEqual({
      conditions: [{ ...sandboxReady, observedGeneration: 4 }],
      sandbox: { name: 'c1', podIPs: ['10.244.0.7'] },
    });
  });

  it('does not call a Sandbox that wants a Service Ready before the Service exists', () => {
    const c = poolClaim('c1', 'warm');
    const base = claimedSandbox(c, [], 'warm-a');
    const sandbox = { ...base, spec: { ...base.spec, service: true } };
    const statuses = bindStatuses({ claim: c, sandbox, pod: member('warm-a', warm, tpl), now: T0 });
    expect(statuses.claim?.conditions?.[0]).toMatchObject({
      status: 'False',
      reason: 'DependenciesNotReady',
    });
    expect(statuses.sandbox.conditions?.[0]).toMatchObject({
      status: 'False',
      reason: 'DependenciesNotReady',
    });
  });
});

describe("a claim's own volumeClaimTemplates (volumeClaimTemplatesPolicy)", () => {
  const withTemplateVolume = (policy: 'Disallowed' | 'Allowed' | 'Overrides') =>
    template('python', {
      volumeClaimTemplates: [vct('data'), vct('cache')],
      volumeClaimTemplatesPolicy: policy,
    });

  it.each([
    ['Disallowed', [vct('scratch')], 'volumeClaimTemplatesPolicy: Disallowed'],
    ['Allowed', [vct('data', '5Gi')], 'data is already a volume claim template'],
    ['Overrides', [vct('x'), vct('x')], 'the name x appears twice'],
  ] as const)('%s refuses %j with VolumeClaimTemplatesError', (policy, claimVolumes, message) => {
    const t = withTemplateVolume(policy);
    const c = poolClaim('c1', 'warm', { volumeClaimTemplates: claimVolumes.map((v) => ({ ...v })) });
    const plan = planClaim(observed(c, { template: t }), T0);
    expect(conditionOf(plan, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'VolumeClaimTemplatesError',
    });
    expect(conditionOf(plan, 'Ready')?.message).toContain(message);
    expect(plan.actions).toEqual([
      expect.objectContaining({ type: 'event', reason: 'VolumeClaimTemplatesError' }),
    ]);
  });

  it.each([
    ['Allowed', [vct('scratch')], ['data', 'cache', 'scratch'], '1Gi'],
    ['Overrides', [vct('scratch'), vct('data', '5Gi')], ['data', 'cache', 'scratch'], '5Gi'],
  ] as const)('%s merges them into a cold Sandbox', (policy, claimVolumes, names, dataSize) => {
    const t = withTemplateVolume(policy);
    const c = poolClaim('c1', 'warm', { volumeClaimTemplates: claimVolumes.map((v) => ({ ...v })) });
    const members = [member('w-1', warm, t)];
    const plan = planClaim(observed(c, { template: t, templatePods: members }), T0);
    const create = plan.actions[0];
    expect(create).toMatchObject({ type: 'create-sandbox', launchType: 'cold' });
    if (create?.type !== 'create-sandbox') return;
    const volumes = create.sandbox.spec.volumeClaimTemplates ?? [];
    expect(volumes.map((v) => v.metadata.name)).toEqual(names);
    expect(volumes[0]?.spec).toMatchObject({ resources: { requests: { storage: dataSize } } });
  });
});

describe('additionalPodMetadata on a warm bind', () => {
  it('binds warm, and the guarded Pod write carries the labels and annotations', () => {
    const c = poolClaim('c1', 'warm', {
      additionalPodMetadata: { labels: { team: 'ml' }, annotations: { note: 'n' } },
    });
    const plan = planClaim(observed(c, { templatePods: [member('w-1', warm, tpl)] }), T0);
    const bind = plan.actions[0];
    expect(bind).toMatchObject({ type: 'bind-warm', candidates: [{ name: 'w-1' }] });
    if (bind?.type !== 'bind-warm') return;
    // A Pod made again for this Sandbox (a resume) gets them too.
    expect(bind.sandbox.spec.podTemplate.metadata).toEqual({
      labels: { app: 'sandbox', team: 'ml' },
      annotations: { note: 'n' },
    });
    const pod = boundPod(member('w-1', warm, tpl), c);
    expect(pod.metadata.labels).toMatchObject({ team: 'ml', [Labels.claimUid]: 'c1-uid' });
    expect(pod.metadata.annotations).toMatchObject({ note: 'n' });
  });

  it('still refuses reserved keys with InvalidMetadata, before any bind', () => {
    const c = poolClaim('c1', 'warm', { additionalPodMetadata: { labels: { 'sandbank.dev/x': 'y' } } });
    const plan = planClaim(observed(c, { templatePods: [member('w-1', warm, tpl)] }), T0);
    expect(conditionOf(plan, 'Ready')).toMatchObject({ reason: 'InvalidMetadata' });
    expect(plan.actions.map((a) => a.type)).toEqual(['event']);
  });
});

describe('warm candidates', () => {
  const candidates = (plan: ReturnType<typeof planClaim>) => {
    const bind = plan.actions[0];
    return bind?.type === 'bind-warm' ? bind.candidates.map((c) => c.name) : [];
  };

  it('are members of the named pool object, by UID: not those of a pool made again under its name', () => {
    const old = member('w-old', warm, tpl);
    const again = pool('warm', tpl, 2);
    const plan = planClaim(
      observed(poolClaim('c1', 'warm'), { pools: [again], templatePods: [old, member('w-new', again, tpl)] }),
      T0,
    );
    expect(candidates(plan)).toEqual(['w-new']);
  });

  it('skip members that do not mount the claims of the template', () => {
    const t = template('python', { volumeClaimTemplates: [vct('data')] });
    const mounting = (name: string): Stored<Pod> => {
      const pod = member(name, warm, t);
      return {
        ...pod,
        spec: {
          ...pod.spec,
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: `data-${name}` } }],
        },
      };
    };
    const plan = planClaim(
      observed(poolClaim('c1', 'warm'), {
        template: t,
        templatePods: [member('w-bare', warm, t), mounting('w-mounts')],
      }),
      T0,
    );
    expect(candidates(plan)).toEqual(['w-mounts']);
    const bind = plan.actions[0];
    expect(bind?.type === 'bind-warm' && bind.sandbox.metadata.annotations?.[Annotations.podName]).toBe('');
    // The template lost its volume claim template: a member still mounting its claim is skipped.
    const after = planClaim(
      observed(poolClaim('c1', 'warm'), {
        templatePods: [mounting('w-mounts'), member('w-bare', warm, tpl)],
      }),
      T0,
    );
    expect(candidates(after)).toEqual(['w-bare']);
  });
});

describe('a claim waiting for its pool or template', () => {
  it('reports the next missing piece once the pool appears, and binds once everything exists', () => {
    const missing = poolClaim(
      'c1',
      'late',
      {},
      { conditions: [condition('Ready', 'False', 'WarmPoolNotFound')] },
    );
    expect(waitsForPoolOrTemplate(missing)).toBe(true);
    // Nothing changed: no write, no event.
    expect(planClaim(observed(missing, { pools: [warm], template: undefined }), T0)).toEqual({
      actions: [],
      status: null,
    });
    const lateTemplate = template('late');
    const late = pool('late', lateTemplate, 0);
    const noTemplate = planClaim(observed(missing, { pools: [warm, late], template: undefined }), T0);
    expect(conditionOf(noTemplate, 'Ready')).toMatchObject({ reason: 'TemplateNotFound' });
    const served = planClaim(observed(missing, { pools: [warm, late], template: lateTemplate }), T0);
    expect(served.actions).toEqual([expect.objectContaining({ type: 'create-sandbox' })]);
    expect(waitsForPoolOrTemplate(poolClaim('c2', 'warm'))).toBe(false);
  });
});
