import { Labels, nameHash } from '@sandbank/api';
import { planPool, type PoolObserved } from '../../../src/reconcilers/sandbox-warm-pool/plan.js';
import { DEFAULT_SANDBOX_PROFILE } from '../../../src/reconcilers/shared/pure-profile.js';
import { member, pool, template } from '../../fixtures/builders.js';

const tpl = template('python');

function observed(
  replicas: number,
  members: PoolObserved['members'],
  extra: Partial<PoolObserved> = {},
): PoolObserved {
  return {
    pool: pool('warm', tpl, replicas),
    template: tpl,
    members,
    missingClaims: new Map(),
    expectationsSatisfied: true,
    expectationsExpireInMs: 0,
    profile: DEFAULT_SANDBOX_PROFILE,
    ...extra,
  };
}

const creates = (plan: ReturnType<typeof planPool>) =>
  plan.actions.flatMap((a) => (a.type === 'create-pods' ? [a.count] : []));
const deletes = (plan: ReturnType<typeof planPool>) =>
  plan.actions.flatMap((a) => (a.type === 'delete-pods' ? a.pods.map((p) => p.name) : []));

describe('planPool', () => {
  it('fills an empty pool with pool-owned, labelled, securely defaulted pods', () => {
    const plan = planPool(observed(3, []));
    const create = plan.actions.find((a) => a.type === 'create-pods');
    expect(create).toMatchObject({ count: 3 });
    const pod = create?.type === 'create-pods' ? create.pod : undefined;
    expect(pod?.metadata.generateName).toBe('warm-');
    expect(pod?.metadata.labels).toMatchObject({
      app: 'sandbox',
      [Labels.pool]: nameHash('warm'),
      [Labels.sandboxTemplateRefHash]: nameHash('python'),
    });
    expect(pod?.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'SandboxWarmPool', name: 'warm', controller: true }),
    ]);
    expect(pod?.spec).toMatchObject({
      runtimeClassName: 'gvisor',
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    });
    expect(pod?.spec.containers[0]?.['securityContext']).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
    });
    expect(plan.status).toEqual({
      replicas: 0,
      readyReplicas: 0,
      selector: `${Labels.pool}=${nameHash('warm')}`,
      observedGeneration: 1,
    });
  });

  it('creates only the missing members and counts ready ones', () => {
    const p = pool('warm', tpl, 3);
    const plan = planPool(observed(3, [member('a', p, tpl), member('b', p, tpl, { ready: false })]));
    expect(creates(plan)).toEqual([1]);
    expect(plan.status).toMatchObject({ replicas: 2, readyReplicas: 1 });
  });

  it('does nothing but status while its own writes are not yet in the cache, and looks again when that wait expires', () => {
    const plan = planPool(observed(3, [], { expectationsSatisfied: false, expectationsExpireInMs: 4_000 }));
    expect(plan.actions).toEqual([]);
    expect(plan.status).toMatchObject({ replicas: 0 });
    expect(plan.requeueAfterMs).toBe(4_000);
    expect(planPool(observed(3, [])).requeueAfterMs).toBeUndefined();
  });

  it('scales down not-ready first, then stale, then newest', () => {
    const p = pool('warm', tpl, 1);
    const members = [
      member('old-ready', p, tpl, { created: '2026-06-01T10:00:00Z' }),
      member('new-ready', p, tpl, { created: '2026-06-01T11:00:00Z' }),
      member('stale-ready', p, tpl, { stale: true, created: '2026-06-01T09:00:00Z' }),
      member('not-ready', p, tpl, { ready: false }),
    ];
    expect(deletes(planPool(observed(1, members)))).toEqual(['not-ready', 'stale-ready', 'new-ready']);
  });

  it('ignores terminating members when counting', () => {
    const p = pool('warm', tpl, 2);
    const plan = planPool(observed(2, [member('a', p, tpl), member('gone', p, tpl, { deleting: true })]));
    expect(creates(plan)).toEqual([1]);
    expect(deletes(plan)).toEqual([]);
  });

  it('Recreate replaces stale members at once; OnReplenish keeps them', () => {
    const p = pool('warm', tpl, 2);
    const members = [member('fresh', p, tpl), member('stale', p, tpl, { stale: true })];
    const recreate = planPool({
      ...observed(2, members),
      pool: pool('warm', tpl, 2, { updateStrategy: { type: 'Recreate' } }),
    });
    expect(deletes(recreate)).toEqual(['stale']);
    expect(creates(recreate)).toEqual([1]);
    const replenish = planPool(observed(2, members));
    expect(replenish.actions).toEqual([]);
  });

  it('warns and creates nothing when the template is missing', () => {
    const plan = planPool(observed(2, [], { template: undefined }));
    expect(plan.actions).toEqual([
      expect.objectContaining({ type: 'event', eventType: 'Warning', reason: 'TemplateNotFound' }),
    ]);
  });

  it('writes no status when it is already right', () => {
    const p = pool('warm', tpl, 1);
    const withStatus = {
      ...p,
      status: {
        replicas: 1,
        readyReplicas: 1,
        selector: `${Labels.pool}=${nameHash('warm')}`,
        observedGeneration: 1,
      },
    };
    const plan = planPool({
      pool: withStatus,
      template: tpl,
      members: [member('a', p, tpl)],
      missingClaims: new Map(),
      expectationsSatisfied: true,
      expectationsExpireInMs: 0,
      profile: DEFAULT_SANDBOX_PROFILE,
    });
    expect(plan).toEqual({ actions: [], status: null });
  });

  it('reports the generation it acted on (v1beta1 status.observedGeneration) once the spec changes', () => {
    const p = pool('warm', tpl, 1);
    const edited = {
      ...p,
      metadata: { ...p.metadata, generation: 2 },
      status: {
        replicas: 1,
        readyReplicas: 1,
        selector: `${Labels.pool}=${nameHash('warm')}`,
        observedGeneration: 1,
      },
    };
    const plan = planPool({
      pool: edited,
      template: tpl,
      members: [member('a', p, tpl)],
      missingClaims: new Map(),
      expectationsSatisfied: true,
      expectationsExpireInMs: 0,
      profile: DEFAULT_SANDBOX_PROFILE,
    });
    expect(plan.status).toMatchObject({ observedGeneration: 2 });
  });
});
