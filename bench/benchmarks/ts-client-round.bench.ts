/**
 * The TypeScript client's whole round on the kwok stack (real apiserver, controller, router with
 * token auth and agent; pods on kwok, no kubelet), from a warm pool:
 *
 *   await using sb = await Sandbox.create({ pool, … });
 *   await sb.commands.run('true');
 *
 * timed from before `create` until the claim's delete was answered; target ≤ 60 ms p50 (issue
 * #20). Each round is also split where the client spends it: `create` (the claim written, its
 * watch until Ready, the route opened), `run` through the router, and dispose (the claim deleted).
 * A round starts only once the pool has a ready replica again, so every claim is a warm bind and
 * the numbers do not include the pool's refill.
 */
import { loadavg } from 'node:os';
import { Sandbox } from '@sandbank/client';
import { EXT, startClientStack, waitFor } from '@sandbank/testing';
import { clientRound, roundResults, type RoundTimes } from './support/client-round.js';
import { controlPlane } from './support/control-plane.js';
import type { Benchmark } from '../src/index.js';

const ROUNDS = 100;
const WARMUP = 10;
/** Enough that the pool refills between rounds without the round ever waiting for a cold pod. */
const POOL_REPLICAS = 3;
const TARGET_P50_MS = 60;

const benchmark: Benchmark = {
  title: 'TypeScript client: create from a warm pool, run true, dispose (whole round)',
  needs: 'control-plane',
  async run(ctx) {
    const { kubeconfigPath, kc } = controlPlane(ctx);
    // startClientStack finds the control plane as the integration tests' workers do.
    process.env['SANDBANK_KUBECONFIG'] = kubeconfigPath;
    const stack = await startClientStack({ poolReplicas: POOL_REPLICAS });
    const round = (): Promise<RoundTimes> =>
      clientRound(() =>
        Sandbox.create({
          kubeconfig: stack.kubeconfigPath,
          namespace: stack.namespace,
          pool: stack.pool,
          routerUrl: stack.routerUrl,
          token: stack.token,
        }),
      );
    const poolFull = (): Promise<unknown> =>
      waitFor<{ status?: { readyReplicas?: number } }>(
        kc,
        `/apis/${EXT.group}/${EXT.version}/namespaces/${stack.namespace}/sandboxwarmpools`,
        stack.pool,
        (pool) => (pool?.status?.readyReplicas ?? 0) >= POOL_REPLICAS,
        { timeoutMs: 60_000, description: `pool ${stack.pool} full again` },
      );
    try {
      for (let i = 0; i < WARMUP; i++) {
        await poolFull();
        await round();
      }
      // The machine's load around the timed rounds goes with the result: on a shared machine it,
      // more than the client, decides the numbers.
      const loadBefore = loadavg()[0] ?? 0;
      const times: RoundTimes[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        await poolFull();
        times.push(await round());
        if ((i + 1) % 25 === 0) ctx.log(`${i + 1}/${ROUNDS} rounds`);
      }
      const params = {
        rounds: ROUNDS,
        warmup: WARMUP,
        poolReplicas: POOL_REPLICAS,
        route: 'direct (http, token)',
        loadAverage: `${loadBefore.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)}`,
      };
      return roundResults('ts-client-round', times, TARGET_P50_MS, params);
    } finally {
      await stack.stop();
    }
  },
};

export default benchmark;
