/**
 * A bound claim whose Sandbox was deleted out from under it (upstream v1beta1's `SandboxMissing`):
 * the claim says so, and is never handed another sandbox under the same name, whose state would
 * not be the one its client left there.
 */
import { type Pod, type Sandbox, type SandboxClaim, type Stored } from '@sandbank/api';
import type { ReconcilerDeps } from '../../../src/reconcilers/deps.js';
import { applyClaimPlan } from '../../../src/reconcilers/sandbox-claim/apply.js';
import { planClaim } from '../../../src/reconcilers/sandbox-claim/plan.js';
import type { Logger } from '../../../src/observability/logger.js';
import {
  T0,
  boundMember,
  claimedSandbox,
  condition,
  member,
  pool,
  poolClaim,
  template,
} from '../../fixtures/builders.js';
import { claimObservedWith, readyOf } from '../../fixtures/claim-plan.js';

const tpl = template('python');
const warm = pool('warm', tpl, 2);

// A free pool member: nothing keeps the plan from binding it but the claim's lost Sandbox.
const free = member('w-free', warm, tpl);
const observed = claimObservedWith({ template: tpl, pools: [warm], templatePods: [free] });

const boundTo = (name: string, claim: Stored<SandboxClaim>): Stored<Pod> =>
  boundMember(name, warm, tpl, claim);

/** A claim that was bound and Ready on its Sandbox `c1`. */
const bound = (reason = 'DependenciesReady', status: 'True' | 'False' = 'True') =>
  poolClaim(
    'c1',
    'warm',
    {},
    {
      conditions: [condition('Ready', status, reason)],
      sandbox: { name: 'c1', podIPs: ['10.244.0.7'] },
    },
  );

describe('a bound claim whose Sandbox is gone', () => {
  it('says Ready=False/SandboxMissing and neither binds nor creates another sandbox', () => {
    const plan = planClaim(observed(bound()), T0);
    expect(readyOf(plan)).toMatchObject({ status: 'False', reason: 'SandboxMissing', observedGeneration: 1 });
    expect(readyOf(plan)?.message).toContain('Sandbox c1');
    // Its name stays (upstream keeps it); its IPs were the gone Pod's.
    expect(plan.status?.sandbox).toEqual({ name: 'c1', podIPs: [] });
    expect(plan.actions).toEqual([
      expect.objectContaining({ type: 'event', eventType: 'Warning', reason: 'SandboxMissing' }),
    ]);
    // A live read must confirm the cache is not just behind before anything is written.
    expect(plan.confirmSandboxGone).toBe(true);
  });

  it('does not re-attach a Pod still bound to it, and releases that Pod', () => {
    const pod = boundTo('w-1', bound());
    const plan = planClaim(observed(bound(), { boundPods: [pod], templatePods: [pod] }), T0);
    expect(readyOf(plan)).toMatchObject({ reason: 'SandboxMissing' });
    expect(plan.actions.filter((a) => a.type !== 'event')).toEqual([
      { type: 'delete-pod', pod: { name: 'w-1', uid: 'w-1-uid' } },
    ]);
  });

  it("never deletes a Pod that only carries the claim's UID label (anyone can set a label)", () => {
    const forged = member('victim', warm, tpl, { claimUid: bound().metadata.uid });
    const plan = planClaim(observed(bound(), { boundPods: [forged], templatePods: [forged] }), T0);
    expect(readyOf(plan)).toMatchObject({ reason: 'SandboxMissing' });
    expect(plan.actions.filter((a) => a.type === 'delete-pod')).toEqual([]);
  });

  it('stays put once it said so: no write, no event, nothing bound', () => {
    const missing = poolClaim(
      'c1',
      'warm',
      {},
      {
        conditions: [{ ...condition('Ready', 'False', 'SandboxMissing'), message: 'x' }],
        sandbox: { name: 'c1', podIPs: [] },
      },
    );
    const again = planClaim(observed(missing), T0);
    expect(again.actions).toEqual([]);
    const fromPlan = planClaim(observed(bound()), T0);
    const settled = poolClaim('c1', 'warm', {}, fromPlan.status ?? undefined);
    expect(planClaim(observed(settled), T0)).toEqual({ actions: [], status: null });
  });

  it('mirrors the Sandbox again as soon as the cache shows it (it was only behind)', () => {
    const c = poolClaim('c1', 'warm', {}, planClaim(observed(bound()), T0).status ?? undefined);
    expect(readyOf(planClaim(observed(bound()), T0))).toMatchObject({ reason: 'SandboxMissing' });
    const plan = planClaim(
      observed(c, { sandbox: claimedSandbox(c, [condition('Ready', 'True', 'DependenciesReady')]) }),
      T0,
    );
    expect(readyOf(plan)).toMatchObject({ status: 'True', reason: 'DependenciesReady' });
    expect(plan.confirmSandboxGone).toBeUndefined();
  });

  it('keeps a final reason: a claim whose Pod failed stays PodFailed', () => {
    const plan = planClaim(observed(bound('PodFailed', 'False')), T0);
    expect(plan).toEqual({ actions: [], status: null });
  });

  it('expires as before: ClaimExpired under Retain, deletion under Delete', () => {
    const retain = poolClaim(
      'c1',
      'warm',
      { lifecycle: { shutdownTime: T0.toISOString(), shutdownPolicy: 'Retain' } },
      bound().status,
    );
    expect(readyOf(planClaim(observed(retain), T0))).toMatchObject({ reason: 'ClaimExpired' });
    const del = poolClaim(
      'c1',
      'warm',
      { lifecycle: { shutdownTime: T0.toISOString(), shutdownPolicy: 'Delete' } },
      bound().status,
    );
    expect(planClaim(observed(del), T0).actions).toEqual([
      { type: 'delete-claim', propagation: 'Background' },
    ]);
  });

  it('a claim never bound (no Sandbox named in its status) still binds', () => {
    const plan = planClaim(observed(poolClaim('c1', 'warm')), T0);
    expect(plan.actions).toEqual([expect.objectContaining({ type: 'bind-warm' })]);
  });
});

describe('applying SandboxMissing', () => {
  const noop = (): void => undefined;
  const log = { info: noop, debug: noop, warn: noop, error: noop } as unknown as Logger;

  function fakeDeps(live: Stored<Sandbox> | undefined) {
    const calls: string[] = [];
    const deps = {
      client: {
        get: (_kind: unknown, _ns: string, name: string) => {
          calls.push(`get ${name}`);
          return Promise.resolve(live);
        },
        // AlreadyExists: the name is taken (by `live`, when there is one)
        createIfAbsent: (_kind: unknown, _ns: string, sb: Sandbox) => {
          calls.push(`createIfAbsent ${sb.metadata.name ?? ''}`);
          return Promise.resolve(undefined);
        },
        patchStatus: (_kind: unknown, _ns: string, name: string) => {
          calls.push(`patchStatus ${name}`);
          return Promise.resolve({});
        },
        delete: (_kind: unknown, _ns: string, name: string) => {
          calls.push(`delete ${name}`);
          return Promise.resolve();
        },
        // The guarded bind write wins.
        replace: (_kind: unknown, _ns: string, pod: Stored<Pod>) => {
          calls.push(`replace ${pod.metadata.name}`);
          return Promise.resolve(pod);
        },
      },
      caches: {
        pods: { get: (_ns: string, name: string) => (name === free.metadata.name ? free : undefined) },
      },
      events: { event: (_obj: unknown, _type: string, reason: string) => calls.push(`event ${reason}`) },
    } as unknown as ReconcilerDeps;
    return { deps, calls };
  }

  const c: Stored<SandboxClaim> = bound();
  const pod = boundTo('w-1', c);

  it('writes nothing when the API server still has the Sandbox (the cache was behind)', async () => {
    const plan = planClaim(observed(c, { boundPods: [pod] }), T0);
    const { deps, calls } = fakeDeps(claimedSandbox(c));
    await applyClaimPlan(deps, c, plan, log);
    expect(calls).toEqual(['get c1']);
  });

  it("writes SandboxMissing when the live Sandbox of that name is not the claim's (by UID)", async () => {
    const plan = planClaim(observed(c, { boundPods: [pod] }), T0);
    const other = bound();
    const squatter = claimedSandbox({ ...other, metadata: { ...other.metadata, uid: 'someone-else' } });
    const { deps, calls } = fakeDeps(squatter);
    await applyClaimPlan(deps, c, plan, log);
    expect(calls).toEqual(expect.arrayContaining(['event SandboxMissing', 'patchStatus c1']));
  });

  it('writes the status, the event and releases the Pod once the Sandbox is confirmed gone', async () => {
    const plan = planClaim(observed(c, { boundPods: [pod] }), T0);
    const { deps, calls } = fakeDeps(undefined);
    await applyClaimPlan(deps, c, plan, log);
    expect(calls[0]).toBe('get c1');
    expect(calls).toEqual(expect.arrayContaining(['delete w-1', 'event SandboxMissing', 'patchStatus c1']));
  });

  it('releases a warm Pod it bound when the name turns out taken between plan and create', async () => {
    // The cache showed no Sandbox named c1, so the plan binds; the create then finds one that
    // something else controls. The Pod must go back (be deleted for the pool to refill), not stay
    // bound to a claim that will never use it.
    const fresh = poolClaim('c1', 'warm');
    const plan = planClaim(observed(fresh), T0);
    expect(plan.actions).toEqual([expect.objectContaining({ type: 'bind-warm' })]);
    const squatter = claimedSandbox({ ...fresh, metadata: { ...fresh.metadata, uid: 'someone-else' } });
    const { deps, calls } = fakeDeps(squatter);
    const outcome = await applyClaimPlan(deps, fresh, plan, log);
    expect(calls).toEqual(['replace w-free', 'createIfAbsent c1', 'get c1', 'delete w-free']);
    expect(outcome).toEqual({ becameReady: false });
  });

  it("never names, in a claim's status, a Sandbox of its name that something else controls", async () => {
    // A Sandbox squatting on the claim's name: had the claim's status named it, deleting it would
    // leave the claim SandboxMissing for good, though it never had a sandbox.
    const fresh = poolClaim('c1', 'warm');
    const squatter = claimedSandbox({ ...fresh, metadata: { ...fresh.metadata, uid: 'someone-else' } });
    const cold = claimObservedWith({ template: tpl, pools: [pool('cold', tpl, 0)] });
    const plan = planClaim(cold(poolClaim('c1', 'cold')), T0);
    expect(plan.actions).toEqual([expect.objectContaining({ type: 'create-sandbox' })]);
    expect(plan.status?.sandbox?.name).toBe('c1');
    const { deps, calls } = fakeDeps(squatter);
    await applyClaimPlan(deps, poolClaim('c1', 'cold'), plan, log);
    expect(calls).toEqual(['createIfAbsent c1', 'get c1']);
  });
});
