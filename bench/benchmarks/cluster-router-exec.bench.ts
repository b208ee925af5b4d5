/**
 * Exec round trip of `true` through the router on the local one-node cluster, on one claimed
 * warm sandbox (gVisor pod): the Sandbank API (`POST /v1/…/exec`) and the legacy contract
 * (`POST /execute`), interleaved, over one kept-alive HTTPS connection each (as the Python
 * client's session does; the router serves only TLS, so the handshake is paid once, in the warm-up), first to the router Service's ClusterIP (what code in the cluster, or the
 * client's direct mode, uses), then through `kubectl port-forward svc/sandbox-router-svc` (what
 * the client's dev mode uses). The agent runs each `true` as a new process inside gVisor.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:https';
import { ClaimTracker, createClaim } from '@sandbank/testing';
import { portForward } from '../../e2e/src/cluster/kubectl.js';
import type { Benchmark, ResultInput } from '../src/index.js';
import {
  NS,
  SYSTEM_NS,
  TEMPLATE,
  clusterParams,
  deleteClaim,
  localCluster,
  load1,
  routerEndpoint,
  waitQuiet,
} from './support/local-cluster.js';

const CALLS = 300;
const WARMUP = 20;

function post(agent: Agent, url: string, headers: Record<string, string>, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(text)
            : reject(new Error(`${url}: HTTP ${String(res.statusCode)}: ${text}`)),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`${url}: no answer in 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

interface Measured {
  v1: number[];
  legacy: number[];
  /** The agent's own `durationMs` of each v1 call: the process inside gVisor, without router and network. */
  agent: number[];
}

/** Times `CALLS` of each call after `WARMUP` untimed ones, alternating between the two. */
async function measure(base: string, token: string, claim: string, ca: Buffer): Promise<Measured> {
  const auth = { authorization: `Bearer ${token}` };
  const v1Agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  const legacyAgent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  const v1 = async () => {
    const r = JSON.parse(
      await post(
        v1Agent,
        `${base}/v1/namespaces/${NS}/sandboxes/${claim}/exec`,
        auth,
        '{"command":["true"]}',
      ),
    ) as { exitCode?: number; durationMs?: number };
    if (r.exitCode !== 0) throw new Error(`exec true: ${JSON.stringify(r)}`);
    return r.durationMs;
  };
  const legacy = async () => {
    const headers = { ...auth, 'x-sandbox-id': claim, 'x-sandbox-namespace': NS };
    const r = JSON.parse(await post(legacyAgent, `${base}/execute`, headers, '{"command":"true"}')) as {
      exit_code?: number;
    };
    if (r.exit_code !== 0) throw new Error(`execute true: ${JSON.stringify(r)}`);
  };
  const out: Measured = { v1: [], legacy: [], agent: [] };
  try {
    for (let i = 0; i < WARMUP + CALLS; i++) {
      let t0 = performance.now();
      const agentMs = await v1();
      if (i >= WARMUP) {
        out.v1.push(performance.now() - t0);
        if (agentMs !== undefined) out.agent.push(agentMs);
      }
      t0 = performance.now();
      await legacy();
      if (i >= WARMUP) out.legacy.push(performance.now() - t0);
    }
  } finally {
    v1Agent.destroy();
    legacyAgent.destroy();
  }
  return out;
}

const benchmark: Benchmark = {
  title: 'local cluster: exec `true` through the router (POST /v1/…/exec and legacy /execute)',
  needs: 'local-cluster',
  async run(ctx) {
    const { log } = ctx;
    const cluster = localCluster(ctx);
    const { kc, kubeconfigPath } = cluster;
    const router = await routerEndpoint(cluster);
    const claim = `bench-exec-${randomBytes(3).toString('hex')}`;
    const tracker = new ClaimTracker(kc, NS);
    const loadBefore = load1();
    try {
      await tracker.started;
      await waitQuiet(kc);
      await createClaim(kc, NS, claim, TEMPLATE);
      await tracker.waitReady(claim, 60_000);
      log(`claimed ${claim}; ${CALLS} calls each via ClusterIP`);
      const direct = await measure(router.url, router.token, claim, router.ca);
      const forward = await portForward(kubeconfigPath, SYSTEM_NS, 'svc/sandbox-router-svc', 8080);
      let viaForward: Measured;
      try {
        log(`${CALLS} calls each via kubectl port-forward`);
        // the router's certificate names 127.0.0.1 for port-forward clients
        viaForward = await measure(`https://127.0.0.1:${forward.localPort}`, router.token, claim, router.ca);
      } finally {
        forward.close();
      }
      const params = (route: string, call: string) => ({
        ...clusterParams(loadBefore),
        calls: CALLS,
        route,
        call,
        command: 'true (argv)',
        connection: 'HTTPS (HTTP/1.1 over TLS) keep-alive, one at a time',
      });
      const cip = 'router Service ClusterIP (kube-proxy)';
      const pf = 'kubectl port-forward svc/sandbox-router-svc';
      const results: ResultInput[] = [
        {
          name: 'cluster-router-exec-v1',
          unit: 'ms',
          samples: direct.v1,
          params: params(cip, 'POST /v1/…/exec'),
        },
        {
          name: 'cluster-router-execute-legacy',
          unit: 'ms',
          samples: direct.legacy,
          params: params(cip, 'POST /execute'),
        },
        {
          name: 'cluster-agent-exec-duration',
          unit: 'ms',
          samples: direct.agent,
          params: { ...params(cip, 'POST /v1/…/exec'), measured: "the agent's durationMs in each reply" },
        },
        {
          name: 'cluster-router-exec-v1-port-forward',
          unit: 'ms',
          samples: viaForward.v1,
          params: params(pf, 'POST /v1/…/exec'),
        },
        {
          name: 'cluster-router-execute-legacy-port-forward',
          unit: 'ms',
          samples: viaForward.legacy,
          params: params(pf, 'POST /execute'),
        },
      ];
      return results;
    } finally {
      tracker.stop();
      await deleteClaim(kc, claim);
    }
  },
};

export default benchmark;
