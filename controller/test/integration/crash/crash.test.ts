/**
 * Crash safety of the bind (DESIGN §4 "Binding"), with the controller as a real OS process:
 *
 * 1. a 200-claim burst against a warm pool of 50 while the controller is SIGKILLed and restarted
 *    twice mid-burst;
 * 2. the same burst against two replicas with leader election (short lease), the leader
 *    SIGKILLed mid-burst.
 *
 * A watch on Pods and one on Sandboxes check the binding invariants on every event for the whole
 * run (see invariants.ts), and must prove they did: any watch error fails the test, and at the
 * end each watch has delivered its collection's current state (alive, no gap). At the end every
 * claim is Ready with a Sandbox named after it, there are no orphan Sandboxes or Pods, the pool
 * is back to `replicas`, and deleting the claims removes everything they owned. Waits are
 * bounded; no timing is asserted.
 */
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Labels } from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import {
  type ControllerProcess,
  collectionPaths,
  createClaim,
  createNamespace,
  createPool,
  createTemplate,
  deleteAllClaims,
  deleteNamespace,
  ensureRuntimeClass,
  eventually,
  listClaims,
  listPods,
  listSandboxes,
  mapLimit,
  poolShortfall,
  readPool,
  startController,
  waitControllerReady,
  watchCollection,
  type CollectionWatch,
} from '@sandbank/testing';
import { BindingInvariants, endStateProblems } from './invariants.js';

// Each test takes about a minute on a quiet 2-core machine and about two with both cores busy:
// their jest timeouts (300 s) leave room for that; every wait inside is bounded on its own.
const REPLICAS = 50;
const CLAIMS = 200;
const TEMPLATE = 'crash-template';
const POOL = 'crash-pool';

const kc: KubeConfig = integrationKubeConfig();
const kubeconfigPath = process.env['SANDBANK_KUBECONFIG'] ?? '';
const ns = `ctrl-crash-${process.pid}`;
const paths = collectionPaths(ns);
const invariants = new BindingInvariants();
const watches: CollectionWatch[] = [];
const processes: ControllerProcess[] = [];

async function controller(env: Record<string, string> = {}): Promise<ControllerProcess> {
  const proc = await startController({ kubeconfigPath, namespace: ns, env });
  processes.push(proc);
  return proc;
}

const poolProblem = async (): Promise<string | undefined> =>
  poolShortfall(await readPool(kc, ns, POOL), REPLICAS);

/** Creates the claims `<prefix>-0…` with 20 in flight; calls `progress(n)` after each create. */
async function burst(prefix: string, progress: (created: number) => Promise<void>): Promise<string[]> {
  const names = Array.from({ length: CLAIMS }, (_, i) => `${prefix}-${i}`);
  let created = 0;
  await mapLimit(names, 20, async (name) => {
    await createClaim(kc, ns, name, TEMPLATE);
    await progress(++created);
  });
  return names;
}

/** Runs `fn` once when `created` first reaches `at`; later callers wait for it to finish. */
function once(at: number, fn: () => Promise<void>): (created: number) => Promise<void> {
  let running: Promise<void> | undefined;
  return async (created) => {
    if (created >= at) running ??= fn();
    if (running) await running;
  };
}

async function expectConsistent(names: readonly string[]): Promise<void> {
  await eventually(
    'every claim Ready, no orphans, pool refilled',
    async () => {
      const [claims, sandboxes, pods, pool] = await Promise.all([
        listClaims(kc, ns),
        listSandboxes(kc, ns),
        listPods(kc, ns),
        readPool(kc, ns, POOL),
      ]);
      const problems = [
        ...invariants.violations,
        ...endStateProblems({ claims, sandboxes, pods, pool }, names, REPLICAS),
      ];
      if (problems.length === 0) return undefined;
      const text = problems.slice(0, 8).join('; ');
      return `${problems.length} problems: ${text}\nhistory:\n${invariants.historyOf(text)}`;
    },
    90_000,
    500,
  );
  expect(invariants.violations).toEqual([]);
}

/**
 * The invariant watches saw the whole run: none hit an error, and each has delivered the
 * current state of its collection (it was still delivering events at the end, with no gap).
 */
async function expectWatchesCaughtUp(): Promise<void> {
  expect(watches).toHaveLength(2);
  await Promise.all(watches.map((w) => w.caughtUp()));
  expect(watches.flatMap((w) => w.errors)).toEqual([]);
}

async function expectCleanAfterDelete(): Promise<void> {
  await deleteAllClaims(kc, ns);
  await eventually(
    'claims, their Sandboxes and Pods gone',
    async () => {
      const [claims, sandboxes, pods] = await Promise.all([
        listClaims(kc, ns),
        listSandboxes(kc, ns),
        listPods(kc, ns),
      ]);
      const bound = pods.filter((p) => p.metadata.ownerReferences?.[0]?.kind !== 'SandboxWarmPool');
      return claims.length + sandboxes.length + bound.length === 0
        ? undefined
        : `${claims.length} claims, ${sandboxes.length} sandboxes, ${bound.length} non-pool pods left`;
    },
    60_000,
    500,
  );
  await eventually('pool back to replicas', poolProblem, 30_000);
  const members = (await listPods(kc, ns)).filter((p) => !p.metadata.deletionTimestamp);
  expect(members.every((p) => p.metadata.labels?.[Labels.claimUid] === undefined)).toBe(true);
  expect(invariants.violations).toEqual([]);
}

beforeAll(async () => {
  await createNamespace(kc, ns);
  await ensureRuntimeClass(kc);
  for (const [path, handler] of [
    [paths.pods, invariants.onPod],
    [paths.sandboxes, invariants.onSandbox],
  ] as const) {
    const watch = watchCollection(kc, path, handler, {
      onRelist: () =>
        invariants.violations.push(`${path}: watch re-listed (410 Gone); versions may be missed`),
    });
    watches.push(watch);
    await watch.started;
  }
  await createTemplate(kc, ns, TEMPLATE);
  await createPool(kc, ns, POOL, TEMPLATE, REPLICAS);
}, 30_000);

afterAll(async () => {
  for (const w of watches) w.stop();
  await Promise.all(processes.map((p) => p.kill('SIGKILL')));
  await deleteNamespace(kc, ns);
}, 30_000);

it('survives SIGKILL and restart twice during a 200-claim burst', async () => {
  let current = await controller();
  await waitControllerReady(current);
  await eventually('pool filled', poolProblem, 60_000);

  const restart = async () => {
    const before = current;
    await before.kill('SIGKILL');
    current = await controller();
  };
  const firstKill = once(50, restart);
  const secondKill = once(130, async () => {
    // Let the second process get into the burst before killing it too.
    await waitControllerReady(current);
    await new Promise((r) => setTimeout(r, 500));
    await restart();
  });
  const names = await burst('crash', async (n) => {
    await firstKill(n);
    await secondKill(n);
  });
  expect(processes).toHaveLength(3);
  expect(await processes[0]?.exited).toBe('SIGKILL');
  expect(await processes[1]?.exited).toBe('SIGKILL');

  await expectConsistent(names);
  await expectCleanAfterDelete();
  await expectWatchesCaughtUp();
  await current.kill('SIGTERM');
}, 300_000);

it('survives the leader being SIGKILLed with two replicas under leader election', async () => {
  const election = {
    LEADER_ELECT: 'true',
    LEADER_ELECTION_NAMESPACE: ns,
    // Short enough for a quick failover, long enough that a leader on a loaded 2-core machine
    // renews in time: with 3 s / 2 s the leader lost its lease (and exited) before the kill.
    LEADER_ELECTION_LEASE_DURATION_MS: '10000',
    LEADER_ELECTION_RENEW_DEADLINE_MS: '7000',
    LEADER_ELECTION_RETRY_PERIOD_MS: '1000',
  };
  const replicas = new Map<string, ControllerProcess>();
  for (const identity of ['replica-a', 'replica-b']) {
    replicas.set(identity, await controller({ ...election, LEADER_ELECTION_IDENTITY: identity }));
  }
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const holder = async () =>
    (
      await coordination
        .readNamespacedLease({ name: 'sandbank-controller', namespace: ns })
        .catch(() => undefined)
    )?.spec?.holderIdentity;
  let leader = '';
  await eventually('a replica leads', async () => {
    leader = (await holder()) ?? '';
    return replicas.has(leader) ? undefined : `holder ${leader || '(none)'}`;
  });
  await eventually('pool ready', poolProblem, 30_000);

  // The leader at the moment of the kill, which is not necessarily the first one.
  const killLeader = once(80, async () => {
    leader = (await holder()) ?? '';
    await replicas.get(leader)?.kill('SIGKILL');
  });
  const names = await burst('ha', killLeader);
  const killed = replicas.get(leader);
  expect(await killed?.exited).toBe('SIGKILL');
  await eventually('the other replica leads', async () => {
    const now = (await holder()) ?? '';
    return now !== leader && replicas.has(now) ? undefined : `holder ${now || '(none)'}`;
  });

  await expectConsistent(names);
  await expectCleanAfterDelete();
  await expectWatchesCaughtUp();
}, 300_000);
