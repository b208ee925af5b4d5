// Tenancy on the real node (#17): what code in one sandbox can reach, and what a process on the
// node itself (a hostNetwork pod, where NetworkPolicy does not apply) can do with an agent it
// reaches. Every target here is on this machine: pod IPs, the Service range, the node's own
// address and the link-local metadata address (no route leaves the node: local-node §6, §9).
import type { Obj } from '@sandbank/testing';
import {
  POOL_NS,
  SYSTEM_NS,
  CONNECT_PROBE,
  claimSandbox,
  cluster,
  exec,
  getJson,
  probeAnswers,
  releaseSandbox,
  router,
  sh,
} from './helpers.js';
import type { Cluster, Router } from './helpers.js';

const A = 'e2e-tenancy-a';
const B = 'e2e-tenancy-b';
const HOST_NS = 'e2e-host';
let c: Cluster;
let r: Router;

// Calls an agent's legacy REST API the way an attacker on the node would: POST /execute with
// the given Authorization header (none when empty); prints "<status> <body>" or "error <kind>".
const CALL_AGENT = `
import sys, urllib.request, urllib.error
url, auth = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url, data=b'{"command": "id"}', method="POST",
                             headers={"content-type": "application/json"})
if auth:
    req.add_header("authorization", auth)
try:
    with urllib.request.urlopen(req, timeout=5) as res:
        print(res.status, res.read().decode()[:200])
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode()[:200])
except OSError as e:
    print("error", type(e).__name__)
`;

const hostPod = `
apiVersion: v1
kind: Pod
metadata:
  name: on-the-node
spec:
  hostNetwork: true
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: localhost/sandbank-runtime:local
      imagePullPolicy: Never
      command: [/usr/bin/tini, --, sleep, '3600']
`;

type Annotated = Obj & { metadata: { annotations?: Record<string, string> } };

/** The running pod the controller bound to sandbox `name` (its pod-name annotation). */
async function sandboxPod(name: string): Promise<Annotated> {
  const sandbox = await getJson<Annotated>(c, ['sandbox', name, '-n', POOL_NS]);
  const podName = sandbox.metadata.annotations?.['agents.x-k8s.io/pod-name'] ?? name;
  const pod = await getJson<Annotated>(c, ['pod', podName, '-n', POOL_NS]);
  if (!pod.status?.podIP) throw new Error(`no running pod for sandbox ${name}`);
  return pod;
}

beforeAll(async () => {
  c = cluster();
  r = await router(c);
  await c.kubectl(['create', 'namespace', HOST_NS]).catch(() => undefined);
  await c.kubectl(['apply', '-n', HOST_NS, '-f', '-'], { input: hostPod });
  await claimSandbox(c, A);
  await claimSandbox(c, B);
  await c.kubectl(['wait', '-n', HOST_NS, '--for=condition=Ready', 'pod/on-the-node', '--timeout=120s']);
}, 240_000);

afterAll(async () => {
  await Promise.all([releaseSandbox(c, A), releaseSandbox(c, B)]);
  await c.kubectl(['delete', 'namespace', HOST_NS, '--ignore-not-found', '--wait=true']);
}, 120_000);

test("from a sandbox: another sandbox's agent, the router's ports, the API server, the kubelet and cloud metadata are all closed", async () => {
  const other = (await sandboxPod(B)).status?.podIP;
  const routerIp = (await getJson<{ items: Obj[] }>(c, ['pods', '-n', SYSTEM_NS, '-l', 'app=sandbox-router']))
    .items[0]?.status?.podIP;
  if (!other || !routerIp) throw new Error('missing pod IPs');
  const targets = [
    `${other}:8888`,
    `${other}:8889`,
    `${routerIp}:8080`,
    `${routerIp}:8081`,
    `${routerIp}:9090`,
    '10.96.0.1:443',
    `${c.nodeIp}:6443`,
    `${c.nodeIp}:10250`,
    '169.254.169.254:80',
  ];
  const res = await exec(r, POOL_NS, A, { command: ['python3', '-c', CONNECT_PROBE, ...targets] });
  process.stderr.write(`[e2e] from sandbox ${A}:\n${res.stdout}${res.stderr}`);
  expect(res.exitCode).toBe(0);
  const got = probeAnswers(res.stdout);
  expect(Object.keys(got).sort()).toEqual([...targets].sort());
  for (const t of targets) expect([t, got[t]]).not.toEqual([t, 'open']);
}, 90_000);

test('on the node, outside every NetworkPolicy: an agent refuses calls without its own credential', async () => {
  const [podA, podB] = [await sandboxPod(A), await sandboxPod(B)];
  const annotation = podA.metadata.annotations?.['sandbank.dev/agent-credential'];
  expect(annotation).toMatch(/^v1\./);
  // the pod carries a nonce, not the credential: nothing in the object lets a reader call the agent
  expect(podB.metadata.annotations?.['sandbank.dev/agent-credential']).not.toBe(annotation);

  const call = async (ip: string, auth: string): Promise<string> =>
    (
      await c.kubectl(
        [
          'exec',
          '-n',
          HOST_NS,
          'on-the-node',
          '--',
          'python3',
          '-c',
          CALL_AGENT,
          `http://${ip}:8888/execute`,
          auth,
        ],
        { timeoutMs: 30_000 },
      )
    ).trim();
  const ip = podA.status?.podIP ?? '';
  const results = {
    none: await call(ip, ''),
    routerToken: await call(ip, `Bearer ${r.token}`),
    nonceAsToken: await call(ip, `Bearer ${annotation ?? ''}`),
  };
  process.stderr.write(`[e2e] agent calls from the node: ${JSON.stringify(results)}\n`);
  for (const answer of Object.values(results)) expect(answer).toMatch(/^401 /);

  // the router, which derives each pod's credential, still gets through
  expect((await sh(r, A, 'echo through-the-router')).stdout).toBe('through-the-router\n');
}, 90_000);
