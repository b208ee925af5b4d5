/**
 * SandboxClaim create → claim `Ready=True` seen by a separate watcher, on the local one-node
 * cluster (real kubelet, containerd, gVisor pods): warm, from the python-runtime pool of 2 that
 * `make up` installs, and cold (`spec.warmpool: none`, a new gVisor pod per claim). Every round
 * starts on a quiet node (pool full, nothing terminating) and deletes its claim afterwards, so
 * each warm claim finds ready members, as a user arriving at an idle cluster would.
 *
 * The targets are the controller benchmark's (controller-claims.bench.ts): ≤ 15 ms p50 warm.
 * Warm claims are split into the same stages (delivery, bind, sandbox, status).
 */
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { type ClaimTimes, ClaimTracker, EXT, claimBody, createClaim } from '@sandbank/testing';
import type { Benchmark, ResultInput } from '../src/index.js';
import {
  NS,
  POOL,
  TEMPLATE,
  clusterParams,
  deleteClaim,
  localCluster,
  load1,
  waitQuiet,
} from './support/local-cluster.js';

const WARMUP = 3;
const WARM = 30;
const COLD = 8;

interface Round {
  readonly ms: number;
  readonly t0: number;
  readonly times: ClaimTimes;
}

const benchmark: Benchmark = {
  title: 'local cluster: claim create → Ready, warm (pool of 2) and cold (gVisor pod started)',
  needs: 'local-cluster',
  async run(ctx) {
    const { log } = ctx;
    const { kc } = localCluster(ctx);
    const tracker = new ClaimTracker(kc, NS);
    const id = randomBytes(3).toString('hex');
    const loadBefore = load1();

    const round = async (name: string, create: () => Promise<unknown>, timeoutMs: number) => {
      await waitQuiet(kc);
      const t0 = performance.now();
      await create();
      const readyAt = await tracker.waitReady(name, timeoutMs);
      const r: Round = { ms: readyAt - t0, t0, times: { ...tracker.claims.get(name) } };
      await deleteClaim(kc, name);
      return r;
    };

    try {
      await tracker.started;
      const warm: Round[] = [];
      for (let i = 0; i < WARMUP + WARM; i++) {
        const name = `bench-warm-${id}-${i}`;
        const r = await round(name, () => createClaim(kc, NS, name, TEMPLATE), 30_000);
        if (i >= WARMUP) warm.push(r);
        if ((i + 1) % 10 === 0) log(`warm: ${i + 1}/${WARMUP + WARM}`);
      }
      const cold: Round[] = [];
      for (let i = 0; i < COLD; i++) {
        const name = `bench-cold-${id}-${i}`;
        const body = claimBody(name, TEMPLATE);
        body['spec'] = { ...(body['spec'] as object), warmpool: 'none' };
        const create = () =>
          kc
            .makeApiClient(CustomObjectsApi)
            .createNamespacedCustomObject({ ...EXT, namespace: NS, plural: 'sandboxclaims', body });
        cold.push(await round(name, create, 120_000));
        log(`cold: ${i + 1}/${COLD}`);
      }

      const warmServed = warm.filter((r) => r.times.launchType === 'warm');
      const coldServed = cold.filter((r) => r.times.launchType === 'cold');
      const params = (extra: Record<string, number | string>) => ({
        ...clusterParams(loadBefore),
        measured: 'create call sent → claim Ready=True seen by a separate watch',
        ...extra,
      });
      return [
        {
          name: 'cluster-warm-claim-ready',
          unit: 'ms',
          samples: warmServed.map((r) => r.ms),
          target: 15,
          params: params({
            rounds: WARM,
            servedCold: WARM - warmServed.length,
            pool: `${POOL} (2)`,
            p99Target: 45,
          }),
        },
        ...stages(warmServed, params({ rounds: warmServed.length })),
        {
          name: 'cluster-cold-claim-ready',
          unit: 'ms',
          samples: coldServed.map((r) => r.ms),
          params: params({
            rounds: COLD,
            servedWarm: COLD - coldServed.length,
            warmpool: 'none',
            readinessProbe: 'httpGet every 2 s (the template)',
          }),
        },
      ];
    } finally {
      tracker.stop();
    }
  },
};

/** Where a warm claim's time goes, from the watcher's timestamps (as in controller-claims). */
function stages(rounds: readonly Round[], params: Record<string, string | number>): ResultInput[] {
  const full = rounds.filter(
    (r) =>
      r.times.seenAt !== undefined &&
      r.times.boundAt !== undefined &&
      r.times.sandboxAt !== undefined &&
      r.times.readyAt !== undefined,
  );
  const stage = (name: string, f: (t: Required<ClaimTimes>, t0: number) => number): ResultInput => ({
    name: `cluster-warm-claim-stage-${name}`,
    unit: 'ms',
    samples: full.map((r) => f(r.times as Required<ClaimTimes>, r.t0)),
    params: { ...params, claims: full.length },
  });
  return [
    stage('delivery', (t, t0) => t.seenAt - t0),
    stage('bind', (t) => t.boundAt - t.seenAt),
    stage('sandbox', (t) => t.sandboxAt - t.boundAt),
    stage('status', (t) => t.readyAt - t.sandboxAt),
  ];
}

export default benchmark;
