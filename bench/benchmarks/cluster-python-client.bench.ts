/**
 * The whole `with SandboxClient(api_url=…) as sb: sb.run("true")` round of the Python client in
 * direct mode on the local one-node cluster: claim, watch to Ready, one exec through the router,
 * delete. The rounds run in clients/python/bench/client_round.py (the client's venv from
 * scripts/venv.sh), each on a quiet node with the python-runtime pool of 2 full; api_url is the
 * router Service's ClusterIP. Fewer rounds than the kwok benchmark's 100: every round waits for
 * a new gVisor pod to refill the pool (≈ 2.5 s). Target as there: ≤ 100 ms p50.
 */
import { join } from 'node:path';
import { clusterBinary, repoRoot } from '@sandbank/e2e';
import { run } from '../../e2e/src/cluster/process.js';
import type { Benchmark } from '../src/index.js';
import {
  NS,
  POOL,
  TEMPLATE,
  clusterParams,
  load1,
  localCluster,
  routerEndpoint,
} from './support/local-cluster.js';

const ROUNDS = 50;
const WARMUP = 3;

const benchmark: Benchmark = {
  title: 'local cluster: Python SandboxClient with-block round (direct mode, warm pool)',
  needs: 'local-cluster',
  async run(ctx) {
    const { log } = ctx;
    const cluster = localCluster(ctx);
    const router = await routerEndpoint(cluster);
    const python = (
      await run('bash', [join(repoRoot, 'clients', 'python', 'scripts', 'venv.sh')], { onStderrLine: log })
    ).stdout.trim();
    const loadBefore = load1();
    log(`${WARMUP} + ${ROUNDS} rounds against ${router.url}`);
    const out = await run(
      python,
      [
        join(repoRoot, 'clients', 'python', 'bench', 'client_round.py'),
        ...['--api-url', router.url, '--namespace', NS, '--template', TEMPLATE, '--pool', POOL],
        ...['--rounds', String(ROUNDS), '--warmup', String(WARMUP)],
      ],
      {
        env: {
          ...process.env,
          KUBECONFIG: cluster.kubeconfigPath,
          KUBECTL: clusterBinary('kubectl'),
          SANDBANK_ROUTER_TOKEN: router.token,
          SANDBANK_CA_FILE: router.caFile,
        },
        onStderrLine: log,
      },
    );
    const r = JSON.parse(out.stdout) as { samples: number[]; warmRounds: number; python: string };
    return [
      {
        name: 'cluster-python-client-round-direct',
        unit: 'ms',
        samples: r.samples,
        target: 100,
        params: {
          ...clusterParams(loadBefore),
          round: 'with SandboxClient(api_url=router ClusterIP) as sb: sb.run("true")',
          rounds: ROUNDS,
          warmRounds: r.warmRounds,
          python: r.python,
        },
      },
    ];
  },
};

export default benchmark;
