import { Annotations, Labels, nameHash, type Pod, type Sandbox, type Stored } from '@sandbank/api';
import { planSandbox, type SandboxObserved } from '../../../src/reconcilers/sandbox/plan.js';
import { DEFAULT_SANDBOX_PROFILE } from '../../../src/reconcilers/shared/pure-profile.js';
import { T0, claim, claimedSandbox, condition, member, pool, template } from '../../fixtures/builders.js';

const tpl = template('python');
const warm = pool('warm', tpl, 1);
const c = claim('c1', tpl);

function observed(
  sandbox: Stored<Sandbox>,
  pod?: Stored<Pod>,
  extra: Partial<SandboxObserved> = {},
): SandboxObserved {
  return {
    sandbox,
    pod,
    service: undefined,
    existingClaims: new Map(),
    clusterDomain: 'cluster.local',
    profile: DEFAULT_SANDBOX_PROFILE,
    ...extra,
  };
}
const cond = (plan: ReturnType<typeof planSandbox>, type: string) =>
  plan.status?.conditions?.find((x) => x.type === type);

/** A warm pod already bound to claim c1 (owned by the claim). */
function boundPod(o: { ready?: boolean; phase?: string } = {}): Stored<Pod> {
  const pod = member('warm-a', warm, tpl, { claimUid: 'c1-uid', ...o });
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      ownerReferences: [
        { apiVersion: 'x', kind: 'SandboxClaim', name: 'c1', uid: 'c1-uid', controller: true },
      ],
    },
    spec: { ...pod.spec, nodeName: 'node-1' },
  };
}

describe('planSandbox', () => {
  it('cold-starts a Pod named like the Sandbox, owned by it, with secure defaults', () => {
    const sandbox = claimedSandbox(c);
    const plan = planSandbox(observed(sandbox), T0);
    const create = plan.actions[0];
    expect(create?.type).toBe('create-pod');
    if (create?.type !== 'create-pod') return;
    expect(create.pod.metadata.name).toBe('c1');
    expect(create.pod.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Sandbox', uid: sandbox.metadata.uid, controller: true }),
    ]);
    expect(create.pod.metadata.labels).toMatchObject({ [Labels.sandboxNameHash]: nameHash('c1') });
    expect(create.pod.spec.automountServiceAccountToken).toBe(false);
    expect(cond(plan, 'Ready')).toMatchObject({ status: 'False', reason: 'DependenciesNotReady' });
  });

  it('keeps what the template says explicitly over the secure defaults', () => {
    const sandbox = claimedSandbox(c);
    sandbox.spec.podTemplate.spec = {
      containers: [{ name: 'a', securityContext: { capabilities: { add: ['NET_BIND_SERVICE'] } } }],
      automountServiceAccountToken: true,
      securityContext: { runAsNonRoot: false },
    };
    // What the namespace allows: root, a token, and the one capability.
    const profile = {
      ...DEFAULT_SANDBOX_PROFILE,
      capabilities: ['NET_BIND_SERVICE'],
      allowRoot: true,
      allowServiceAccountToken: true,
    };
    const create = planSandbox(observed(sandbox, undefined, { profile }), T0).actions[0];
    if (create?.type !== 'create-pod') throw new Error('expected create-pod');
    expect(create.pod.spec.automountServiceAccountToken).toBe(true);
    expect(create.pod.spec['securityContext']).toMatchObject({
      runAsNonRoot: false,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    // Dropping ALL is not a default but a rule: it joins the template's capabilities.
    expect(create.pod.spec.containers[0]?.['securityContext']).toEqual({
      capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
    });
  });

  it('adopts the warm Pod its claim bound, and is Ready with its IP and node', () => {
    const sandbox = claimedSandbox(c, [], 'warm-a');
    const plan = planSandbox(observed(sandbox, boundPod()), T0);
    const adopt = plan.actions[0];
    expect(adopt?.type).toBe('adopt-pod');
    if (adopt?.type !== 'adopt-pod') return;
    expect(adopt.pod.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Sandbox', uid: sandbox.metadata.uid }),
    ]);
    expect(cond(plan, 'Ready')).toMatchObject({ status: 'True', reason: 'DependenciesReady' });
    expect(plan.status).toMatchObject({
      podIPs: ['10.244.0.7'],
      nodeName: 'node-1',
      replicas: 1,
      selector: `${Labels.sandboxNameHash}=${nameHash('c1')}`,
    });
  });

  it('never takes a Pod that belongs to something else', () => {
    const sandbox = claimedSandbox(c, [], 'warm-a');
    const poolPod = member('warm-a', warm, tpl);
    const plan = planSandbox(observed(sandbox, poolPod), T0);
    expect(plan.actions).toEqual([]);
    expect(cond(plan, 'Ready')?.message).toContain('belongs to something else');
  });

  it('reports Finished when the Pod ends, with the reason, and does not restart it', () => {
    const sandbox = claimedSandbox(c, [], 'warm-a');
    const failed = {
      ...boundPod({ phase: 'Failed' }),
      status: { phase: 'Failed', reason: 'Evicted', message: 'low memory' },
    };
    const plan = planSandbox(observed(sandbox, failed), T0);
    expect(cond(plan, 'Finished')).toMatchObject({ status: 'True', reason: 'PodFailed' });
    expect(cond(plan, 'Finished')?.message).toContain('Evicted');
    expect(plan.actions.filter((a) => a.type === 'create-pod')).toEqual([]);
  });

  it('treats a bound Pod that disappeared as failed instead of creating a new one', () => {
    const sandbox = claimedSandbox(c, [condition('Ready', 'True', 'DependenciesReady')], 'warm-a');
    const plan = planSandbox(observed(sandbox), T0);
    expect(plan.actions).toEqual([]);
    expect(cond(plan, 'Finished')).toMatchObject({ status: 'True', reason: 'PodFailed' });
    expect(cond(plan, 'Ready')).toMatchObject({ status: 'False', reason: 'PodFailed' });
  });

  it('suspends with operatingMode Suspended: deletes the Pod, then reports Suspended', () => {
    const sandbox = {
      ...claimedSandbox(c, [], 'warm-a'),
      spec: { ...claimedSandbox(c).spec, operatingMode: 'Suspended' as const },
    };
    const pod = boundPod();
    const deleting = planSandbox(
      observed(sandbox, {
        ...pod,
        metadata: {
          ...pod.metadata,
          ownerReferences: [
            {
              apiVersion: 'x',
              kind: 'Sandbox',
              name: 'c1',
              uid: sandbox.metadata.uid ?? '',
              controller: true,
            },
          ],
        },
      }),
      T0,
    );
    expect(deleting.actions).toEqual([{ type: 'delete-pod', name: 'warm-a', uid: 'warm-a-uid' }]);
    expect(cond(deleting, 'Suspended')).toMatchObject({ status: 'False', reason: 'PodTerminating' });
    const gone = planSandbox(observed(sandbox), T0);
    expect(gone.actions).toEqual([]);
    expect(cond(gone, 'Suspended')).toMatchObject({ status: 'True', reason: 'PodTerminated' });
    expect(cond(gone, 'Ready')).toMatchObject({ status: 'False', reason: 'SandboxSuspended' });
  });

  describe('resume of a warm-bound Sandbox (#18 bug 4a)', () => {
    const suspendedConditions = () => [
      condition('Ready', 'False', 'SandboxSuspended'),
      condition('Suspended', 'True', 'PodTerminated'),
    ];
    const withStatus = (sandbox: Stored<Sandbox>, status: Stored<Sandbox>['status']): Stored<Sandbox> => ({
      ...sandbox,
      status: { ...status },
    });

    it('recreates the Pod under the warm Pod name once suspended, instead of calling it lost', () => {
      const made = claimedSandbox(c, suspendedConditions(), 'warm-a');
      // As the claim makes it (sandboxFor): labelled with the claim's UID.
      const sandbox = { ...made, metadata: { ...made.metadata, labels: { [Labels.claimUid]: 'c1-uid' } } };
      const plan = planSandbox(observed(withStatus(sandbox, { ...sandbox.status, replicas: 0 })), T0);
      expect(cond(plan, 'Finished')).toBeUndefined();
      const create = plan.actions.find((a) => a.type === 'create-pod');
      if (create?.type !== 'create-pod') throw new Error(`expected create-pod, got ${JSON.stringify(plan)}`);
      expect(create.pod.metadata.name).toBe('warm-a');
      expect(create.pod.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'Sandbox', uid: sandbox.metadata.uid, controller: true }),
      ]);
      // What the router and the claim find the Pod by: its Sandbox's name hash, its claim's UID.
      expect(create.pod.metadata.labels).toMatchObject({
        [Labels.sandboxNameHash]: nameHash('c1'),
        [Labels.claimUid]: 'c1-uid',
      });
      expect(create.pod.metadata.labels).not.toHaveProperty([Labels.pool]);
      expect(cond(plan, 'Suspended')).toMatchObject({ status: 'False', reason: 'NotSuspended' });
      expect(cond(plan, 'Ready')).toMatchObject({ status: 'False', reason: 'DependenciesNotReady' });
    });

    it('resumes on the Ready reason SandboxSuspended alone', () => {
      const sandbox = claimedSandbox(c, [condition('Ready', 'False', 'SandboxSuspended')], 'warm-a');
      const plan = planSandbox(observed(sandbox), T0);
      expect(cond(plan, 'Finished')).toBeUndefined();
      expect(plan.actions.map((a) => a.type)).toEqual(['create-pod']);
    });

    it('keeps creating while the new Pod is not in the cache yet, then treats it as any Pod', () => {
      const sandbox = claimedSandbox(c, suspendedConditions(), 'warm-a');
      const first = planSandbox(observed(withStatus(sandbox, { ...sandbox.status, replicas: 0 })), T0);
      const resuming = withStatus(sandbox, first.status ?? {});
      // The cache lags behind the create: the Pod is still not there.
      const again = planSandbox(observed(resuming), new Date(T0.getTime() + 1000));
      expect(again.actions.map((a) => a.type)).toEqual(['create-pod']);
      expect(cond(again, 'Finished')).toBeUndefined();

      // The new Pod, controlled by the Sandbox, Ready: the sandbox is Ready, Suspended stays False.
      const pod = boundPod();
      const owned: Stored<Pod> = {
        ...pod,
        metadata: {
          ...pod.metadata,
          labels: { ...pod.metadata.labels, [Labels.sandboxNameHash]: nameHash('c1') },
          ownerReferences: [
            { apiVersion: 'x', kind: 'Sandbox', name: 'c1', uid: sandbox.metadata.uid, controller: true },
          ],
        },
      };
      const running = planSandbox(observed(resuming, owned), new Date(T0.getTime() + 2000));
      expect(running.actions).toEqual([]);
      expect(cond(running, 'Ready')).toMatchObject({ status: 'True', reason: 'DependenciesReady' });
      expect(cond(running, 'Suspended')).toMatchObject({ status: 'False', reason: 'NotSuspended' });

      // That Pod, once seen, is the sandbox's: losing it is PodFailed, as for the warm Pod.
      const settled = withStatus(resuming, running.status ?? {});
      const lost = planSandbox(observed(settled), new Date(T0.getTime() + 3000));
      expect(lost.actions).toEqual([]);
      expect(cond(lost, 'Finished')).toMatchObject({ status: 'True', reason: 'PodFailed' });
    });

    it('waits for the suspended Pod to go before creating its successor, whatever its phase', () => {
      const sandbox = claimedSandbox(
        c,
        [condition('Ready', 'False', 'SandboxSuspended'), condition('Suspended', 'False', 'PodTerminating')],
        'warm-a',
      );
      const pod = boundPod({ phase: 'Failed' });
      const terminating: Stored<Pod> = {
        ...pod,
        metadata: {
          ...pod.metadata,
          deletionTimestamp: T0.toISOString(),
          ownerReferences: [
            { apiVersion: 'x', kind: 'Sandbox', name: 'c1', uid: sandbox.metadata.uid, controller: true },
          ],
        },
      };
      const waiting = planSandbox(observed(sandbox, terminating), T0);
      expect(waiting.actions).toEqual([]);
      expect(cond(waiting, 'Finished')).toBeUndefined();
      const gone = planSandbox(observed(withStatus(sandbox, waiting.status ?? sandbox.status)), T0);
      expect(gone.actions.map((a) => a.type)).toEqual(['create-pod']);
      expect(cond(gone, 'Finished')).toBeUndefined();
    });

    it('still calls a never-suspended warm Pod that vanished lost, even before it was Ready', () => {
      const sandbox = claimedSandbox(c, [condition('Ready', 'False', 'DependenciesNotReady')], 'warm-a');
      const plan = planSandbox(observed(sandbox), T0);
      expect(plan.actions).toEqual([]);
      expect(cond(plan, 'Finished')).toMatchObject({ status: 'True', reason: 'PodFailed' });
    });
  });

  it('expires at shutdownTime: Delete removes the Sandbox, Retain removes the Pod and keeps the object', () => {
    const base = claimedSandbox(c, [], 'warm-a');
    const later = new Date(T0.getTime() + 5000);
    const withPolicy = (shutdownPolicy: 'Delete' | 'Retain') => ({
      ...base,
      spec: { ...base.spec, shutdownTime: later.toISOString(), shutdownPolicy },
    });
    expect(planSandbox(observed(withPolicy('Delete'), boundPod()), T0).requeueAfterMs).toBe(5000);
    expect(planSandbox(observed(withPolicy('Delete'), boundPod()), later).actions).toEqual([
      { type: 'delete-sandbox' },
    ]);
    const retained = planSandbox(observed(withPolicy('Retain'), boundPod()), later);
    expect(retained.actions).toEqual([{ type: 'delete-pod', name: 'warm-a', uid: 'warm-a-uid' }]);
    expect(cond(retained, 'Ready')).toMatchObject({ status: 'False', reason: 'SandboxExpired' });
    expect(retained.status?.podIPs).toEqual([]);
  });

  it('creates its headless Service and volume claims when asked, and waits for the Service', () => {
    const sandbox = claimedSandbox(c);
    sandbox.spec.service = true;
    sandbox.spec.volumeClaimTemplates = [
      { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'] } },
    ];
    const plan = planSandbox(observed(sandbox), T0);
    expect(plan.actions.map((a) => a.type)).toEqual(['create-pvc', 'create-service', 'create-pod']);
    const pod = plan.actions.find((a) => a.type === 'create-pod');
    expect(pod?.type === 'create-pod' && pod.pod.spec['volumes']).toEqual([
      { name: 'sandbank-workspace', emptyDir: {} },
      { name: 'sandbank-tmp', emptyDir: {} },
      { name: 'data', persistentVolumeClaim: { claimName: 'data-c1' } },
    ]);
    const ready = planSandbox(
      observed(
        { ...sandbox, metadata: { ...sandbox.metadata, annotations: { [Annotations.podName]: 'warm-a' } } },
        boundPod(),
        {
          service: { controllerUid: sandbox.metadata.uid },
          // Warm-bound: the claim is named after the warm Pod, and the Sandbox controls it already.
          existingClaims: new Map([
            [
              'data-warm-a',
              {
                metadata: {
                  name: 'data-warm-a',
                  resourceVersion: '1',
                  ownerReferences: [
                    {
                      apiVersion: 'x',
                      kind: 'Sandbox',
                      name: 'c1',
                      uid: sandbox.metadata.uid,
                      controller: true,
                    },
                  ],
                },
              },
            ],
          ]),
        },
      ),
      T0,
    );
    expect(ready.status).toMatchObject({ service: 'c1', serviceFQDN: 'c1.default.svc.cluster.local' });
  });

  describe('what a v1beta1 client reads (#18)', () => {
    it('reports an existing Service when spec.service is unset, also while suspended, not when false', () => {
      const sandbox = claimedSandbox(c, [], 'warm-a');
      const service = { controllerUid: sandbox.metadata.uid };
      const fqdn = { service: 'c1', serviceFQDN: 'c1.default.svc.cluster.local' };
      expect(planSandbox(observed(sandbox, boundPod(), { service }), T0).status).toMatchObject(fqdn);
      const suspended = { ...sandbox, spec: { ...sandbox.spec, operatingMode: 'Suspended' as const } };
      expect(planSandbox(observed(suspended, undefined, { service }), T0).status).toMatchObject(fqdn);
      const dropped = { ...sandbox, spec: { ...sandbox.spec, service: false } };
      const plan = planSandbox(observed(dropped, boundPod(), { service }), T0);
      expect(plan.actions).toContainEqual({ type: 'delete-service', name: 'c1' });
      expect(plan.status).not.toHaveProperty('serviceFQDN');
    });

    it('is Ready with the Pod IPs, node and the selector of its Pod; clears IPs and node without a Pod', () => {
      const sandbox = claimedSandbox(c, [], 'warm-a');
      const ready = planSandbox(observed(sandbox, boundPod()), T0);
      expect(ready.status).toMatchObject({
        podIPs: ['10.244.0.7'],
        nodeName: 'node-1',
        selector: `${Labels.sandboxNameHash}=${nameHash('c1')}`,
      });
      expect(cond(ready, 'Ready')).toMatchObject({
        status: 'True',
        reason: 'DependenciesReady',
        message: 'Pod warm-a is Ready',
      });
      const settled = { ...sandbox, spec: { ...sandbox.spec, operatingMode: 'Suspended' as const } };
      const suspended = planSandbox(observed({ ...settled, status: ready.status ?? {} }), T0);
      expect(suspended.status?.podIPs).toEqual([]);
      expect(suspended.status).not.toHaveProperty('nodeName');
      expect(cond(suspended, 'Ready')).toMatchObject({ status: 'False', reason: 'SandboxSuspended' });
    });

    it('says why it resumed in terms of operatingMode', () => {
      const suspended = claimedSandbox(c, [condition('Suspended', 'True', 'PodTerminated')], 'warm-a');
      const plan = planSandbox(observed(suspended), T0);
      expect(cond(plan, 'Suspended')).toMatchObject({
        status: 'False',
        reason: 'NotSuspended',
        message: 'operatingMode is Running',
      });
    });
  });

  describe('PodScheduled and podIPs, as upstream reports them (#18)', () => {
    type PodCond = { type: string; status: string; reason?: string; message?: string };
    /** The bound Pod with its IPs, in `phase`, with `conditions` (Ready False unless given). */
    function podWith(conditions: PodCond[], o: { phase?: string; deleting?: boolean } = {}): Stored<Pod> {
      const pod = boundPod({ ready: false, ...(o.phase ? { phase: o.phase } : {}) });
      return {
        ...pod,
        metadata: {
          ...pod.metadata,
          ...(o.deleting ? { deletionTimestamp: '2026-06-01T11:59:00Z' } : {}),
        },
        status: { ...pod.status, conditions },
      };
    }
    const unschedulable: PodCond = {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message: '0/1 nodes are available: 1 Insufficient memory.',
    };

    it("copies the Pod's PodScheduled condition: status, reason and message", () => {
      const sandbox = claimedSandbox(c, [], 'warm-a');
      const pending = planSandbox(observed(sandbox, podWith([unschedulable], { phase: 'Pending' })), T0);
      expect(cond(pending, 'PodScheduled')).toMatchObject({
        status: 'False',
        reason: 'Unschedulable',
        message: '0/1 nodes are available: 1 Insufficient memory.',
        observedGeneration: sandbox.metadata.generation ?? 0,
      });
      // The kubelet's PodScheduled=True carries no reason; a condition needs one.
      const scheduled = planSandbox(
        observed(
          { ...sandbox, status: pending.status ?? {} },
          podWith([{ type: 'PodScheduled', status: 'True' }]),
        ),
        T0,
      );
      expect(cond(scheduled, 'PodScheduled')).toMatchObject({
        status: 'True',
        reason: 'PodScheduled',
        message: '',
      });
      expect(cond(scheduled, 'Ready')).toMatchObject({ status: 'False', reason: 'DependenciesNotReady' });
    });

    it('replaces a reason the Pod gives that a condition cannot carry, and drops the copy with the Pod', () => {
      const sandbox = claimedSandbox(c, [], 'warm-a');
      const odd = planSandbox(
        observed(sandbox, podWith([{ type: 'PodScheduled', status: 'False', reason: 'not a reason!' }])),
        T0,
      );
      expect(cond(odd, 'PodScheduled')).toMatchObject({ status: 'False', reason: 'PodNotScheduled' });
      const settled = { ...sandbox, spec: { ...sandbox.spec, operatingMode: 'Suspended' as const } };
      const gone = planSandbox(observed({ ...settled, status: odd.status ?? {} }), T0);
      expect(cond(gone, 'PodScheduled')).toBeUndefined();
    });

    it('publishes podIPs whenever its Pod has IPs, before Ready too', () => {
      const sandbox = claimedSandbox(c, [], 'warm-a');
      const running = planSandbox(observed(sandbox, podWith([{ type: 'PodScheduled', status: 'True' }])), T0);
      expect(cond(running, 'Ready')).toMatchObject({
        status: 'False',
        message: 'Pod is Running but not Ready',
      });
      expect(running.status?.podIPs).toEqual(['10.244.0.7']);
      const waitingForService = { ...sandbox, spec: { ...sandbox.spec, service: true } };
      expect(planSandbox(observed(waitingForService, boundPod()), T0).status?.podIPs).toEqual(['10.244.0.7']);
    });

    it('never publishes the IP or scheduling of a Pod that is not its own, nor of one being deleted', () => {
      const sandbox = claimedSandbox(c, [], 'warm-a');
      const poolPod = member('warm-a', warm, tpl);
      const foreign = {
        ...poolPod,
        status: { ...poolPod.status, conditions: [unschedulable] },
      };
      const plan = planSandbox(observed(sandbox, foreign), T0);
      expect(plan.status?.podIPs).toEqual([]);
      expect(cond(plan, 'PodScheduled')).toBeUndefined();
      const leaving = planSandbox(observed(sandbox, podWith([], { deleting: true })), T0);
      expect(leaving.status?.podIPs).toEqual([]);
    });

    it('writes nothing again once the copy and the IPs are written (no flapping)', () => {
      const sandbox = claimedSandbox(c, [], 'warm-a');
      const pod = podWith([unschedulable], { phase: 'Pending' });
      const first = planSandbox(observed(sandbox, pod), T0);
      const settled = { ...sandbox, status: first.status ?? {} };
      expect(planSandbox(observed(settled, pod), new Date(T0.getTime() + 1000)).status).toBeNull();
      const notReady = podWith([{ type: 'PodScheduled', status: 'True' }]);
      const second = planSandbox(observed(settled, notReady), T0);
      const again = { ...sandbox, status: second.status ?? {} };
      expect(planSandbox(observed(again, notReady), new Date(T0.getTime() + 2000)).status).toBeNull();
    });
  });

  it('writes no status when nothing changed', () => {
    const sandbox = claimedSandbox(c, [], 'warm-a');
    const pod = boundPod();
    const first = planSandbox(observed(sandbox, pod), T0);
    const settled = { ...sandbox, status: first.status ?? {} };
    expect(planSandbox(observed(settled, pod), new Date(T0.getTime() + 1000)).status).toBeNull();
  });
});
