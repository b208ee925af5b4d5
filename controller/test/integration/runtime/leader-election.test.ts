// Two electors on one real Lease: one leads, the other takes over when the first stops (at once,
// thanks to the release) or loses the API server (after the lease duration, never overlapping).
import { jest } from '@jest/globals';
import { integrationKubeConfig } from '@sandbank/e2e';
import { ObjectMeta } from '@sandbank/api';
import { z } from 'zod';
import { KubeError, LEASES, createInformer, createKubeClient, createTransport } from '@sandbank/kube';
import type { KubeClient } from '@sandbank/kube';
import { EventLog } from '@sandbank/testing';
import { captureLogs, createNamespace, deleteNamespace } from '../support.js';
import { runLeaderElection, type LeaderElector } from '../../../src/runtime/leader-election.js';

// The integration project's testTimeout is not applied per project by jest; set it here.
jest.setTimeout(60_000);

const LeaseSchema = z.looseObject({
  metadata: ObjectMeta,
  spec: z
    .looseObject({
      holderIdentity: z.string().optional(),
      leaseTransitions: z.number().optional(),
      leaseDurationSeconds: z.number().optional(),
    })
    .optional(),
});
type Lease = z.infer<typeof LeaseSchema>;

const kc = integrationKubeConfig();
const transport = createTransport(kc);
const client = createKubeClient(kc, { transport });
let ns = '';
const electors: LeaderElector[] = [];

// Short but valid timings: renewDeadline < leaseDuration, retryPeriod × 1.2 < renewDeadline. The
// lease is three times the renew deadline, so "released, taken over at once" (about one retry
// period) and "stepped down before the lease could pass on" are far apart from what they rule
// out even when a busy machine delays every timer.
const timing = { leaseDurationMs: 6_000, renewDeadlineMs: 2_000, retryPeriodMs: 200 };

beforeAll(async () => {
  ns = await createNamespace(client, 'election');
});

afterAll(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  await deleteNamespace(client, ns);
  transport.close();
});

/** A client that starts failing every call (a partition between this replica and the server). */
function partitionable(inner: KubeClient): { client: KubeClient; cut: () => void } {
  let cut = false;
  const guard = <T>(call: () => Promise<T>): Promise<T> =>
    cut ? Promise.reject(new KubeError('Unavailable', 0, 'partitioned')) : call();
  return {
    cut: () => (cut = true),
    client: {
      get: (t, n, name) => guard(() => inner.get(t, n, name)),
      list: (t, n, o) => guard(() => inner.list(t, n, o)),
      create: (t, n, o) => guard(() => inner.create(t, n, o)),
      createIfAbsent: (t, n, o) => guard(() => inner.createIfAbsent(t, n, o)),
      replace: (t, n, o) => guard(() => inner.replace(t, n, o)),
      mergePatch: (t, n, name, p, o) => guard(() => inner.mergePatch(t, n, name, p, o)),
      patchStatus: (t, n, name, s) => guard(() => inner.patchStatus(t, n, name, s)),
      delete: (t, n, name, o) => guard(() => inner.delete(t, n, name, o)),
    },
  };
}

interface Candidate {
  readonly identity: string;
  readonly elector: LeaderElector;
  readonly cut: () => void;
  startedAt?: number;
  stoppedAt?: number;
  signal?: AbortSignal;
  readonly leading: Promise<void>;
}

function candidate(identity: string, leaseName: string): Candidate {
  const p = partitionable(client);
  let resolveLeading: () => void = () => {};
  const leading = new Promise<void>((r) => (resolveLeading = r));
  const c: Partial<Candidate> & { identity: string } = { identity, cut: p.cut, leading };
  const elector = runLeaderElection({
    client: p.client,
    namespace: ns,
    name: leaseName,
    identity,
    ...timing,
    log: captureLogs().log,
    onStartedLeading: (signal) => {
      c.startedAt = Date.now();
      c.signal = signal;
      resolveLeading();
    },
    onStoppedLeading: () => {
      c.stoppedAt = Date.now();
    },
  });
  electors.push(elector);
  return Object.assign(c, { elector }) as Candidate;
}

async function holder(leaseName: string): Promise<string | undefined> {
  return (await client.get<Lease>(LEASES, ns, leaseName))?.spec?.holderIdentity;
}

describe('leader election', () => {
  it('lets exactly one of two lead, and the other takes over at once after a graceful stop', async () => {
    const a = candidate('replica-a', 'graceful');
    const b = candidate('replica-b', 'graceful');
    const first = await Promise.race([a.leading.then(() => a), b.leading.then(() => b)]);
    const second = first === a ? b : a;
    expect(await holder('graceful')).toBe(first.identity);

    // Several renewals later (seen through a watch of the Lease) the follower still follows.
    const leases = createInformer(kc, {
      type: LEASES,
      schema: LeaseSchema,
      namespace: ns,
      fieldSelector: 'metadata.name=graceful',
      log: captureLogs().log,
      transport,
    });
    const events = new EventLog(leases);
    await leases.start();
    await events.waitFor(() => events.events.filter((e) => e.type === 'update').length >= 3, {
      what: 'three renewals',
    });
    leases.stop();
    expect(events.events.every((e) => e.obj.spec?.holderIdentity === first.identity)).toBe(true);
    expect(first.elector.isLeader()).toBe(true);
    expect(second.elector.isLeader()).toBe(false);
    expect(second.startedAt).toBeUndefined();

    const stoppedAt = Date.now();
    await first.elector.stop();
    expect(first.signal?.aborted).toBe(true);
    expect(first.stoppedAt).toBeDefined();
    expect(await first.elector.done).toBe('stopped');

    await second.leading;
    // Released: no need to wait out the 6 s lease, one retry period (plus jitter) is enough.
    // Without the release the follower would wait for nearly the whole lease after the stop
    // (from its last sight of a renewal), so the bound is half of it.
    expect((second.startedAt ?? Infinity) - stoppedAt).toBeLessThan(timing.leaseDurationMs / 2);
    expect(await holder('graceful')).toBe(second.identity);
    expect((await client.get<Lease>(LEASES, ns, 'graceful'))?.spec?.leaseTransitions).toBeGreaterThanOrEqual(
      1,
    );
    await second.elector.stop();
  });

  it('stops leading when renewals fail past the deadline; the other takes over only after that', async () => {
    const a = candidate('replica-a', 'partition');
    await a.leading;
    const b = candidate('replica-b', 'partition');

    const cutAt = Date.now();
    a.cut();
    expect(await a.elector.done).toBe('lost');
    expect(a.signal?.aborted).toBe(true);
    expect(a.elector.isLeader()).toBe(false);
    // It gave up at its renew deadline, long before the lease could pass on: the bound is midway
    // between the two, 2 s of slack either way.
    expect((a.stoppedAt ?? Infinity) - cutAt).toBeLessThan(
      (timing.renewDeadlineMs + timing.leaseDurationMs) / 2,
    );

    await b.leading;
    expect(b.startedAt).toBeGreaterThan(a.stoppedAt ?? Infinity); // never two leaders at once
    expect(await holder('partition')).toBe('replica-b');
    await b.elector.stop();
  });

  it('rejects unsafe timings', () => {
    expect(() =>
      runLeaderElection({
        client,
        namespace: ns,
        name: 'x',
        identity: 'x',
        leaseDurationMs: 1_000,
        renewDeadlineMs: 2_000,
        retryPeriodMs: 100,
        log: captureLogs().log,
        onStartedLeading: () => {},
        onStoppedLeading: () => {},
      }),
    ).toThrow(/leaseDuration > renewDeadline/);
  });
});
