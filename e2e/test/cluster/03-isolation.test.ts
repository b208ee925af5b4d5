// From inside a claimed sandbox, through the router: gVisor's kernel, no service-account token,
// not root, and egress to other pods and to the apiserver refused by the template's
// NetworkPolicy while the router still reaches the agent. A control pod (same image, also gVisor,
// no policy) shows the same connections succeed without the policy, and that the node's own
// address is unreachable from any pod (no route: part of the cluster's network safety).
import { release } from 'node:os';
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

const NAME = 'e2e-isolation';
const CONTROL_NS = 'e2e-control';
let c: Cluster;
let r: Router;

const controlPod = `
apiVersion: v1
kind: Pod
metadata:
  name: control
spec:
  runtimeClassName: gvisor
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  securityContext: { runAsNonRoot: true, runAsUser: 1000 }
  containers:
    - name: c
      image: localhost/sandbank-runtime:local
      imagePullPolicy: Never
      command: [/usr/bin/tini, --, sleep, '3600']
`;

beforeAll(async () => {
  c = cluster();
  r = await router(c);
  await c.kubectl(['create', 'namespace', CONTROL_NS]).catch(() => undefined);
  await c.kubectl(['apply', '-n', CONTROL_NS, '-f', '-'], { input: controlPod });
  await claimSandbox(c, NAME);
  await c.kubectl(['wait', '-n', CONTROL_NS, '--for=condition=Ready', 'pod/control', '--timeout=120s']);
}, 180_000);

afterAll(async () => {
  await releaseSandbox(c, NAME);
  await c.kubectl(['delete', 'namespace', CONTROL_NS, '--ignore-not-found', '--wait=true']);
}, 120_000);

test("the sandbox runs on gVisor's kernel, not the host's", async () => {
  const res = await sh(r, NAME, 'uname -r; cat /proc/version');
  expect(res.exitCode).toBe(0);
  const [kernel, version] = res.stdout.split('\n');
  // the runsc built from the gVisor module reports 4.19.0-gvisor, Debian's older runsc 4.4.0
  expect(kernel).toMatch(/gvisor|^4\.4\.0$/);
  expect(kernel).not.toBe(release());
  expect(version).toMatch(/^Linux version (4\.19\.0-gvisor|4\.4\.0)/);
});

test('no service-account token is mounted', async () => {
  const res = await sh(r, NAME, 'ls /var/run/secrets/kubernetes.io/serviceaccount');
  expect(res.exitCode).not.toBe(0);
  expect(res.stderr).toMatch(/No such file or directory/);
  const mounts = await sh(r, NAME, 'cat /proc/self/mounts');
  expect(mounts.stdout).not.toMatch(/serviceaccount/);
});

test('the sandboxed process is not root and holds no capabilities', async () => {
  const res = await sh(r, NAME, 'id -u; id -g; grep CapEff /proc/self/status');
  expect(res.exitCode).toBe(0);
  const [uid, gid, capEff] = res.stdout.trim().split('\n');
  expect(uid).toBe('1000');
  expect(gid).not.toBe('0');
  expect(capEff).toMatch(/^CapEff:\s+0+$/);
});

test('egress to other pods and to the apiserver is refused; the router still reaches the agent', async () => {
  const podIp = async (selector: string): Promise<string> => {
    const ip = (await getJson<{ items: Obj[] }>(c, ['pods', '-n', SYSTEM_NS, '-l', selector])).items[0]
      ?.status?.podIP;
    if (!ip) throw new Error(`no pod with an IP for ${selector} in ${SYSTEM_NS}`);
    return ip;
  };
  // Pods reach the node through the `kubernetes` Service (kube-proxy DNATs it to the apiserver on
  // <node IP>:6443); they have no route to the node IP itself (the CNI routes only the pod and
  // Service ranges, part of the cluster's network safety): that target is unreachable from any
  // pod, with or without a policy.
  const allowedWithoutPolicy = [
    `${await podIp('app=sandbox-router')}:8080`,
    `${await podIp('app.kubernetes.io/name=sandbank-controller')}:8080`,
    '10.96.0.1:443',
  ];
  const node = `${c.nodeIp}:6443`;
  const targets = [...allowedWithoutPolicy, node];

  const control = await c.kubectl([
    'exec',
    '-n',
    CONTROL_NS,
    'control',
    '--',
    'python3',
    '-c',
    CONNECT_PROBE,
    ...targets,
  ]);
  process.stderr.write(`[e2e] egress from a pod without NetworkPolicy:\n${control}`);
  expect(probeAnswers(control)).toEqual({
    ...Object.fromEntries(allowedWithoutPolicy.map((t) => [t, 'open'])),
    [node]: 'unreachable',
  });

  const res = await exec(r, POOL_NS, NAME, { command: ['python3', '-c', CONNECT_PROBE, ...targets] });
  process.stderr.write(`[e2e] egress from the sandbox:\n${res.stdout}${res.stderr}`);
  expect(res.exitCode).toBe(0);
  // kube-router rejects what no policy admits (ICMP port unreachable -> ECONNREFUSED), and the
  // apiserver behind the Service is refused the same way once kube-proxy has translated it.
  expect(probeAnswers(res.stdout)).toEqual({
    ...Object.fromEntries(allowedWithoutPolicy.map((t) => [t, 'refused'])),
    [node]: 'unreachable',
  });

  // that exec itself went router -> agent; once more to be explicit
  expect((await sh(r, NAME, 'echo still-reachable')).stdout).toBe('still-reachable\n');
}, 60_000);
