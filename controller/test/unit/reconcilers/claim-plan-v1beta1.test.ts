/**
 * Claims as v1beta1 clients write them (a pool, no template; the template comes from the pool):
 * how the plan serves them. (v1alpha1 claims, stored with their template in an annotation, are
 * claim-plan.test.ts's builders' default.)
 */
import { planClaim, type ClaimObserved } from '../../../src/reconcilers/sandbox-claim/plan.js';
import { T0, member, pool, poolClaim, template } from '../../fixtures/builders.js';
import { claimObservedWith, readyOf } from '../../fixtures/claim-plan.js';

const tpl = template('python');
const warm = pool('warm', tpl, 2);
const other = pool('other', tpl, 1);
const observed = claimObservedWith({ template: tpl, pools: [warm, other] });

describe('planClaim with v1beta1 claims', () => {
  it('binds only members of the named pool', () => {
    const pods = [member('o-1', other, tpl), member('w-1', warm, tpl)];
    const plan = planClaim(observed(poolClaim('c1', 'warm'), { templatePods: pods }), T0);
    const bind = plan.actions[0];
    expect(bind?.type === 'bind-warm' ? bind.candidates.map((c) => c.name) : []).toEqual(['w-1']);
    expect(readyOf(plan)).toMatchObject({ status: 'False', reason: 'Pending' });
  });

  it('cold-starts the pool template when the pool has no ready member (a replicas 0 pool)', () => {
    const cold = pool('cold', tpl, 0);
    const plan = planClaim(observed(poolClaim('c1', 'cold'), { pools: [warm, cold] }), T0);
    expect(plan.actions).toEqual([expect.objectContaining({ type: 'create-sandbox', launchType: 'cold' })]);
    const create = plan.actions[0];
    expect(create?.type === 'create-sandbox' && create.sandbox.spec.operatingMode).toBe('Running');
  });

  it.each([
    ['InvalidConfiguration', poolClaim('c1', undefined), {}],
    ['WarmPoolNotFound', poolClaim('c1', 'nope'), { template: undefined }],
    ['TemplateNotFound', poolClaim('c1', 'warm'), { template: undefined }],
  ])('answers %s', (reason, c, extra: Partial<ClaimObserved>) => {
    const plan = planClaim(observed(c, extra), T0);
    expect(plan.actions.filter((a) => a.type !== 'event')).toEqual([]);
    expect(readyOf(plan)).toMatchObject({ status: 'False', reason });
  });
});
