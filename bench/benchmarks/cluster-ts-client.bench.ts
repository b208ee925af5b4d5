/**
 * The TypeScript client's whole round on the local one-node cluster, direct mode (the router
 * Service's ClusterIP over TLS with the cluster's CA), from the python-runtime pool of 2:
 *
 *   await using sb = await Sandbox.create({ pool, routerUrl, token, caFile, … });
 *   await sb.commands.run('true');
 *
 * Each round starts on a quiet node with the pool full (`waitQuiet`), as the Python client's
 * round there does (cluster-python-client.bench.ts), so the two compare. Target: ≤ 100 ms p50
 * (issue #20).
 */
import { Sandbox } from '@sandbank/client';
import type { Benchmark } from '../src/index.js';
import { clientRound, roundResults, type RoundTimes } from './support/client-round.js';
import {
  NS,
  POOL,
  clusterParams,
  load1,
  localCluster,
  routerEndpoint,
  waitQuiet,
} from './support/local-cluster.js';

const ROUNDS = 50;
const WARMUP = 3;
const TARGET_P50_MS = 100;

const benchmark: Benchmark = {
  title: 'local cluster: TypeScript client create → run true → dispose (direct mode, warm pool)',
  needs: 'local-cluster',
  async run(ctx) {
    const cluster = localCluster(ctx);
    const router = await routerEndpoint(cluster);
    const options = {
      kubeconfig: cluster.kubeconfigPath,
      namespace: NS,
      pool: POOL,
      routerUrl: router.url,
      token: router.token,
      caFile: router.caFile,
    };
    const loadBefore = load1();
    ctx.log(`${WARMUP} + ${ROUNDS} rounds against ${router.url}`);
    const times: RoundTimes[] = [];
    for (let i = 0; i < WARMUP + ROUNDS; i++) {
      await waitQuiet(cluster.kc);
      const t = await clientRound(() => Sandbox.create(options));
      if (i >= WARMUP) times.push(t);
      if ((i + 1) % 10 === 0) ctx.log(`${i + 1}/${WARMUP + ROUNDS} rounds`);
    }
    return roundResults('cluster-ts-client-round-direct', times, TARGET_P50_MS, {
      ...clusterParams(loadBefore),
      round:
        "await using sb = await Sandbox.create({ pool, routerUrl: <router ClusterIP> }); await sb.commands.run('true')",
      rounds: ROUNDS,
      warmup: WARMUP,
    });
  },
};

export default benchmark;
