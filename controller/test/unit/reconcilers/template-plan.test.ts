import { Labels, nameHash } from '@sandbank/api';
import {
  SPEC_HASH_ANNOTATION,
  desiredPolicy,
  planTemplate,
  type TemplateObserved,
} from '../../../src/reconcilers/sandbox-template/plan.js';
import { DEFAULT_SANDBOX_PROFILE } from '../../../src/reconcilers/shared/pure-profile.js';
import { template } from '../../fixtures/builders.js';

const router = { podLabels: { app: 'sandbox-router' }, namespaces: ['sandbank-system'] };

/** The policy as the controller left it for `t`: its own, with the spec hash it applied. */
function appliedPolicy(t: ReturnType<typeof template>): NonNullable<TemplateObserved['policy']> {
  const desired = desiredPolicy(t, router);
  return {
    name: desired.metadata.name,
    specHash: desired.metadata.annotations[SPEC_HASH_ANNOTATION],
    controlledByTemplate: true,
  };
}

function observed(t = template('python'), policy?: TemplateObserved['policy']): TemplateObserved {
  return { template: t, policy, router, profile: DEFAULT_SANDBOX_PROFILE };
}

describe('planTemplate', () => {
  it('keeps a default-deny policy for the template pods that admits only the router', () => {
    const t = template('python', { networkPolicy: { egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] } });
    const { actions } = planTemplate(observed(t));
    expect(actions).toHaveLength(1);
    const apply = actions[0];
    if (apply?.type !== 'apply-network-policy') throw new Error('expected apply-network-policy');
    expect(apply.exists).toBe(false);
    expect(apply.policy.spec).toEqual({
      podSelector: { matchLabels: { [Labels.sandboxTemplateRefHash]: nameHash('python') } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            {
              podSelector: { matchLabels: { app: 'sandbox-router' } },
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'sandbank-system' } },
            },
          ],
        },
      ],
      egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }],
    });
  });

  it('re-applies the policy when the template rules change', () => {
    const policy = appliedPolicy(template('python'));
    const changed = template('python', { networkPolicy: { egress: [{}] } });
    expect(planTemplate(observed(changed, policy)).actions).toEqual([
      expect.objectContaining({ type: 'apply-network-policy', exists: true }),
    ]);
  });

  it('does nothing when the policy is already as desired', () => {
    const t = template('python');
    expect(planTemplate(observed(t, appliedPolicy(t))).actions).toEqual([]);
  });

  it('deletes its own policy when Unmanaged, and never touches a foreign one', () => {
    const unmanaged = template('python', { networkPolicyManagement: 'Unmanaged' });
    expect(
      planTemplate(observed(unmanaged, { name: 'p', specHash: 'old', controlledByTemplate: true })).actions,
    ).toEqual([{ type: 'delete-network-policy', name: 'p' }]);
    expect(
      planTemplate(observed(unmanaged, { name: 'p', specHash: undefined, controlledByTemplate: false }))
        .actions,
    ).toEqual([]);
    const managed = planTemplate(
      observed(template('python'), { name: 'p', specHash: undefined, controlledByTemplate: false }),
    ).actions;
    expect(managed).toEqual([expect.objectContaining({ type: 'event', reason: 'NetworkPolicyConflict' })]);
  });

  it("admits the router pods from every ROUTER_NAMESPACES entry, one peer each; `.` is the template's own namespace", () => {
    const t = template('python');
    const fromOf = (namespaces: string[]) =>
      desiredPolicy(t, { podLabels: { app: 'sandbox-router' }, namespaces }).spec['ingress'];
    const pods = { podSelector: { matchLabels: { app: 'sandbox-router' } } };
    const inNamespace = (ns: string) => ({
      ...pods,
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
    });
    expect(fromOf(['sandbank-system', 'agent-sandbox-system'])).toEqual([
      { from: [inNamespace('sandbank-system'), inNamespace('agent-sandbox-system')] },
    ]);
    // A peer without namespaceSelector selects pods in the policy's (= the sandbox's) namespace.
    expect(fromOf(['.', 'agent-sandbox-system'])).toEqual([
      { from: [pods, inNamespace('agent-sandbox-system')] },
    ]);
    expect(fromOf(['.'])).toEqual([{ from: [pods] }]);
    // `from: []` would admit every source: no namespace, no router rule at all.
    expect(fromOf([])).toEqual([]);
  });

  it('re-applies the policy when the router namespaces change (the hash covers the peers)', () => {
    const t = template('python');
    const before = appliedPolicy(t);
    const widened = {
      ...observed(t, before),
      router: { ...router, namespaces: ['sandbank-system', 'agent-sandbox-system'] },
    };
    expect(planTemplate(widened).actions).toEqual([
      expect.objectContaining({ type: 'apply-network-policy', exists: true }),
    ]);
  });

  it('warns about credentials where the namespace allows them (elsewhere the template is rejected)', () => {
    const t = template('python');
    t.spec.podTemplate.spec = { containers: [{ name: 'a' }], automountServiceAccountToken: true };
    const eventsFor = (o: TemplateObserved) =>
      planTemplate(o).actions.flatMap((a) => (a.type === 'event' ? [[a.reason, a.message]] : []));
    expect(
      eventsFor({ ...observed(t), profile: { ...DEFAULT_SANDBOX_PROFILE, allowServiceAccountToken: true } }),
    ).toEqual([['TemplateWarning', expect.stringContaining('automountServiceAccountToken is true')]]);
    expect(eventsFor(observed(t))).toEqual([
      [
        'TemplateRejected',
        expect.stringContaining('automountServiceAccountToken: service account tokens are not allowed'),
      ],
    ]);
  });
});
