/**
 * Claims as v1beta1 clients write them (a pool, no template) and as the conversion webhook stores
 * v1alpha1 ones (template and warm-pool policy in an annotation): what each asks for, and how the
 * plan serves it.
 */
import { claimIntent, ALPHA_FIELDS_ANNOTATION } from '../../../src/reconcilers/sandbox-claim/pure-intent.js';
import { planClaim, type ClaimObserved } from '../../../src/reconcilers/sandbox-claim/plan.js';
import { DEFAULT_SANDBOX_PROFILE } from '../../../src/reconcilers/shared/pure-profile.js';
import { T0, claim, member, pool, poolClaim, template } from '../../fixtures/builders.js';

const tpl = template('python');
const warm = pool('warm', tpl, 2);
const other = pool('other', tpl, 1);

function observed(c: ClaimObserved['claim'], extra: Partial<ClaimObserved> = {}): ClaimObserved {
  return {
    claim: c,
    template: tpl,
    pools: [warm, other],
    sandbox: undefined,
    boundPods: [],
    templatePods: [],
    profile: DEFAULT_SANDBOX_PROFILE,
    ...extra,
  };
}
const readyOf = (plan: ReturnType<typeof planClaim>) =>
  plan.status?.conditions?.find((c) => c.type === 'Ready');

describe('claimIntent', () => {
  it.each([
    ['a v1beta1 claim: its pool', poolClaim('c', 'warm'), { pool: 'warm', warm: 'pool' }],
    ['a v1alpha1 claim, warmpool default', claim('c', tpl), { template: 'python', warm: 'any' }],
    [
      'a v1alpha1 claim, warmpool none',
      claim('c', tpl, { warmpool: 'none' }),
      { template: 'python', warm: 'none' },
    ],
    [
      'a v1alpha1 claim naming a pool',
      claim('c', tpl, { warmpool: 'warm' }),
      { pool: 'warm', template: 'python', warm: 'pool' },
    ],
  ])('%s', (_what, c, intent) => {
    expect(claimIntent(c)).toEqual(intent);
  });

  it('lets warmPoolRef win over the pool a v1alpha1 client recorded (a v1beta1 client changed it)', () => {
    const c = claim('c', tpl, { warmpool: 'warm' });
    const changed = { ...c, spec: { ...c.spec, warmPoolRef: { name: 'other' } } };
    expect(claimIntent(changed)).toEqual({ pool: 'other', template: 'python', warm: 'pool' });
  });

  it.each([
    ['neither a pool nor the annotation', poolClaim('c', undefined), 'spec.warmPoolRef.name'],
    [
      'an annotation that is not the JSON the webhook writes',
      (() => {
        const c = poolClaim('c', 'warm');
        return { ...c, metadata: { ...c.metadata, annotations: { [ALPHA_FIELDS_ANNOTATION]: '{nope' } } };
      })(),
      ALPHA_FIELDS_ANNOTATION,
    ],
  ])('is invalid with %s, naming the field', (_what, c, field) => {
    const intent = claimIntent(c);
    expect('invalid' in intent ? intent.invalid : '').toContain(field);
  });
});

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
