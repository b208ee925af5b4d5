/**
 * The sandbox profile as the plans enforce it on clusters without the admission policy: a
 * template (or a Sandbox's own pod template) that breaks a rule gets no Pod, and every object
 * that would have had one says why with the reason `TemplateRejected`, naming the field.
 */
import type { PodSpec, SandboxTemplate, Stored } from '@sandbank/api';
import { planClaim, type ClaimObserved } from '../../../src/reconcilers/sandbox-claim/plan.js';
import { planPool, type PoolObserved } from '../../../src/reconcilers/sandbox-warm-pool/plan.js';
import { planSandbox, type SandboxObserved } from '../../../src/reconcilers/sandbox/plan.js';
import { planTemplate, type TemplateObserved } from '../../../src/reconcilers/sandbox-template/plan.js';
import { T0, claim, claimedSandbox, condition, member, pool, template } from '../../fixtures/builders.js';

/** The default profile: gVisor only, no added capabilities, nothing relaxed. */
const strict = {
  runtimeClasses: ['gvisor'],
  capabilities: [],
  allowRoot: false,
  allowServiceAccountToken: false,
  allowHostNetwork: false,
} as const;

const FIELD = 'spec.podTemplate.spec';

function templateWith(spec: Partial<PodSpec>, name = 'python'): Stored<SandboxTemplate> {
  const t = template(name);
  t.spec.podTemplate.spec = { ...t.spec.podTemplate.spec, ...spec };
  return t;
}

const privileged = templateWith({
  containers: [{ name: 'agent', image: 'sandbank/runtime:1', securityContext: { privileged: true } }],
});
const PRIVILEGED_MESSAGE = `${FIELD}.containers[0].securityContext.privileged: privileged containers are not allowed`;

function poolObserved(tpl: Stored<SandboxTemplate>, extra: Partial<PoolObserved> = {}): PoolObserved {
  return {
    pool: pool('warm', tpl, 2),
    template: tpl,
    members: [],
    missingClaims: new Map(),
    expectationsSatisfied: true,
    expectationsExpireInMs: 0,
    profile: strict,
    ...extra,
  };
}

const events = (actions: readonly { type: string }[]) =>
  actions.flatMap((a) =>
    a.type === 'event' ? [a as { type: 'event'; reason: string; message: string; eventType: string }] : [],
  );

describe('warm pool', () => {
  it('creates no pod for a rejected template and says why on the pool', () => {
    const plan = planPool(poolObserved(privileged));
    expect(plan.actions.filter((a) => a.type === 'create-pods')).toEqual([]);
    expect(events(plan.actions)).toEqual([
      expect.objectContaining({ eventType: 'Warning', reason: 'TemplateRejected' }),
    ]);
    expect(events(plan.actions)[0]?.message).toContain(PRIVILEGED_MESSAGE);
  });

  it('removes unclaimed members of a template that is now rejected (a relaxation was taken back)', () => {
    const rooted = templateWith({ securityContext: { runAsUser: 0 } });
    const p = pool('warm', rooted, 2);
    const members = [member('a', p, rooted), member('b', p, rooted)];
    const plan = planPool(poolObserved(rooted, { pool: p, members }));
    expect(plan.actions).toContainEqual(
      expect.objectContaining({
        type: 'delete-pods',
        pods: [expect.objectContaining({ name: 'a' }), expect.objectContaining({ name: 'b' })],
      }),
    );
    expect(plan.actions.filter((a) => a.type === 'create-pods')).toEqual([]);
  });

  it('creates pods for what the namespace allows, and fills in the first allowed runtime class', () => {
    const rooted = templateWith({ runtimeClassName: undefined, securityContext: { runAsUser: 0 } });
    const plan = planPool(
      poolObserved(rooted, { profile: { ...strict, runtimeClasses: ['kata', 'gvisor'], allowRoot: true } }),
    );
    const create = plan.actions.find((a) => a.type === 'create-pods');
    if (create?.type !== 'create-pods') throw new Error(`expected create-pods: ${JSON.stringify(plan)}`);
    expect(create.pod.spec.runtimeClassName).toBe('kata');
    expect(create.pod.spec['securityContext']).toMatchObject({ runAsUser: 0 });
  });
});

function sandboxObserved(spec: PodSpec, extra: Partial<SandboxObserved> = {}): SandboxObserved {
  const sandbox = claimedSandbox(claim('c1', 'python'));
  sandbox.spec.podTemplate.spec = spec;
  return {
    sandbox,
    pod: undefined,
    service: undefined,
    existingClaims: new Map(),
    clusterDomain: 'cluster.local',
    profile: strict,
    ...extra,
  };
}

describe('sandbox (cold start)', () => {
  it('creates no pod for a rejected pod template: Ready False, TemplateRejected, naming the field', () => {
    const plan = planSandbox(sandboxObserved({ containers: [{ name: 'a' }], hostNetwork: true }), T0);
    expect(plan.actions.filter((a) => a.type === 'create-pod')).toEqual([]);
    const ready = plan.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TemplateRejected' });
    expect(ready?.message).toContain(`${FIELD}.hostNetwork: host networking is not allowed`);
  });

  it('creates the pod once the namespace allows what it asks for', () => {
    const spec = { containers: [{ name: 'a' }], automountServiceAccountToken: true };
    const rejected = planSandbox(sandboxObserved(spec), T0);
    expect(rejected.actions.filter((a) => a.type === 'create-pod')).toEqual([]);
    const allowed = planSandbox(
      sandboxObserved(spec, { profile: { ...strict, allowServiceAccountToken: true } }),
      T0,
    );
    expect(allowed.actions.map((a) => a.type)).toEqual(['create-pod']);
  });
});

function claimObserved(tpl: Stored<SandboxTemplate>, extra: Partial<ClaimObserved> = {}): ClaimObserved {
  return {
    claim: claim('c1', tpl),
    template: tpl,
    pools: [],
    sandbox: undefined,
    boundPods: [],
    templatePods: [],
    profile: strict,
    ...extra,
  };
}

describe('claim', () => {
  it('creates no sandbox for a rejected template: Ready False, TemplateRejected, and a Warning', () => {
    const capable = templateWith({
      containers: [{ name: 'agent', securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }],
    });
    const plan = planClaim(claimObserved(capable), T0);
    expect(plan.actions.filter((a) => a.type !== 'event')).toEqual([]);
    const ready = plan.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TemplateRejected' });
    expect(ready?.message).toContain(
      `${FIELD}.containers[0].securityContext.capabilities.add: capability SYS_ADMIN is not allowed`,
    );
    expect(events(plan.actions)).toEqual([expect.objectContaining({ reason: 'TemplateRejected' })]);
  });

  it('cold-starts when the namespace allows what the template asks for', () => {
    const rooted = templateWith({ securityContext: { runAsNonRoot: false } });
    const rejected = planClaim(claimObserved(rooted), T0);
    expect(rejected.status?.conditions?.find((x) => x.type === 'Ready')?.reason).toBe('TemplateRejected');
    const allowed = planClaim(claimObserved(rooted, { profile: { ...strict, allowRoot: true } }), T0);
    expect(allowed.actions.map((a) => a.type)).toEqual(['create-sandbox']);
  });

  it('reports its Sandbox rejection as its own', () => {
    const tpl = template('python');
    const c = claim('c1', tpl);
    const sandbox = claimedSandbox(c, [condition('Ready', 'False', 'TemplateRejected')]);
    const plan = planClaim(claimObserved(tpl, { claim: c, sandbox }), T0);
    expect(plan.status?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'TemplateRejected',
    });
  });
});

const router = { podLabels: { app: 'sandbox-router' }, namespaces: ['sandbank-system'] };
function templateObserved(
  tpl: Stored<SandboxTemplate>,
  extra: Partial<TemplateObserved> = {},
): TemplateObserved {
  return { template: tpl, policy: undefined, router, profile: strict, ...extra };
}

describe('template', () => {
  it('records a TemplateRejected Warning naming every field, and still fences its pods', () => {
    const tpl = templateWith({
      hostPID: true,
      containers: [{ name: 'agent', securityContext: { privileged: true } }],
    });
    const { actions } = planTemplate(templateObserved(tpl));
    const rejected = events(actions).filter((e) => e.reason === 'TemplateRejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.message).toContain(`${FIELD}.hostPID: the host's process namespace is not allowed`);
    expect(rejected[0]?.message).toContain(PRIVILEGED_MESSAGE);
    expect(actions.map((a) => a.type)).toContain('apply-network-policy');
  });

  it('no longer warns about a missing runtime class: the first allowed one is filled in', () => {
    const tpl = templateWith({ runtimeClassName: undefined });
    expect(events(planTemplate(templateObserved(tpl)).actions)).toEqual([]);
  });
});
