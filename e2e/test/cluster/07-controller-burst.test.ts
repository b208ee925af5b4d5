// The controller pod killed (force delete) while 50 claims are being bound: the Deployment's new
// controller takes the Lease over, every claim ends Ready, and no Pod is ever bound to two claims
// (a watch records every claim-uid each Pod carries; the final Sandbox -> Pod map is one-to-one).
// That watch must prove it saw the whole run: it never ends or fails while the test runs, and at
// the end it has delivered every pod of the namespace at its current resourceVersion.
// A light template (busybox under gVisor, tiny requests) so 50 sandboxes fit on one 2-core node;
// a pool of 5 makes the first binds warm and the rest cold.
import { Watch } from '@kubernetes/client-node';
import { type Obj, isReady } from '@sandbank/testing';
import {
  CONTROLLER_DEPLOYMENT,
  SYSTEM_NS,
  cluster,
  getJson,
  since,
  waitPoolReady,
  waitRollout,
} from './helpers.js';
import type { Cluster } from './helpers.js';

const NS = 'e2e-burst';
const N = 50;
const POOL_SIZE = 5;
let c: Cluster;
let stopWatch: AbortController | undefined;
let watchStopped = false;

type Versioned = Obj & { metadata: { resourceVersion?: string } };

const templateAndPool = `
apiVersion: extensions.agents.x-k8s.io/v1alpha1
kind: SandboxTemplate
metadata:
  name: burst
spec:
  podTemplate:
    spec:
      runtimeClassName: gvisor
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      securityContext: { runAsNonRoot: true, runAsUser: 1000 }
      containers:
        - name: c
          image: localhost/busybox:sandbank-1
          imagePullPolicy: Never
          command: [sleep, '3600']
          resources:
            requests: { cpu: 5m, memory: 16Mi }
            limits: { memory: 64Mi }
---
apiVersion: extensions.agents.x-k8s.io/v1alpha1
kind: SandboxWarmPool
metadata:
  name: burst
spec:
  replicas: ${POOL_SIZE}
  sandboxTemplateRef: { name: burst }
`;

const claims = (): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: Array.from({ length: N }, (_, i) => ({
      apiVersion: 'extensions.agents.x-k8s.io/v1alpha1',
      kind: 'SandboxClaim',
      metadata: { name: `burst-${String(i).padStart(2, '0')}` },
      spec: { sandboxTemplateRef: { name: 'burst' } },
    })),
  });

beforeAll(async () => {
  c = cluster();
  await c.kubectl(['create', 'namespace', NS]).catch(() => undefined);
  await c.kubectl(['apply', '-n', NS, '-f', '-'], { input: templateAndPool });
  await waitPoolReady(c, POOL_SIZE, NS, 'burst', 180_000);
}, 240_000);

afterAll(async () => {
  watchStopped = true;
  stopWatch?.abort();
  const t0 = performance.now();
  await c.kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=300s'], {
    timeoutMs: 320_000,
  });
  process.stderr.write(`[e2e] namespace ${NS} (${N + POOL_SIZE} gVisor pods) deleted in ${since(t0)} ms\n`);
}, 360_000);

const listClaims = async (): Promise<Obj[]> =>
  (await getJson<{ items: Obj[] }>(c, ['sandboxclaims', '-n', NS])).items;

test(`controller killed during a burst of ${N} claims: all Ready, none double-bound`, async () => {
  // every claim-uid each pod of the namespace ever carries
  const seen = new Map<string, Set<string>>();
  // what the watch delivered (each live pod's last resourceVersion) and how it failed, if it did
  const delivered = new Map<string, string>();
  const watchProblems: string[] = [];
  const watchStart = performance.now();
  stopWatch = await new Watch(c.kc).watch(
    `/api/v1/namespaces/${NS}/pods`,
    {},
    (type: string, pod: Versioned) => {
      if (type === 'ERROR') {
        watchProblems.push(`ERROR event: ${JSON.stringify(pod).slice(0, 300)}`);
        return;
      }
      if (type === 'DELETED') delivered.delete(pod.metadata.name);
      else delivered.set(pod.metadata.name, pod.metadata.resourceVersion ?? '');
      const uid = pod.metadata.labels?.['agents.x-k8s.io/claim-uid'];
      if (!uid) return;
      const uids = seen.get(pod.metadata.name) ?? new Set<string>();
      uids.add(uid);
      seen.set(pod.metadata.name, uids);
    },
    (err: unknown) => {
      // Not resumed: whatever happened after this point would go unchecked.
      if (watchStopped) return;
      const why =
        err === undefined || err === null
          ? 'closed by the server'
          : err instanceof Error
            ? err.message
            : JSON.stringify(err);
      watchProblems.push(`pod watch ended ${since(watchStart)} ms into the test: ${why}`);
    },
  );
  const controllerPods = async (): Promise<string[]> =>
    (
      await getJson<{ items: Obj[] }>(c, [
        'pods',
        '-n',
        SYSTEM_NS,
        '-l',
        'app.kubernetes.io/name=sandbank-controller',
      ])
    ).items.map((p) => p.metadata.name);
  const before = await controllerPods();
  expect(before).toHaveLength(1);

  // The kill goes in once the first binds are done, while the claims are still being created.
  const t0 = performance.now();
  let createdMs = -1;
  const creating = c.kubectl(['create', '-n', NS, '-f', '-'], { input: claims() }).then(() => {
    createdMs = since(t0);
  });
  while (createdMs < 0 && (await listClaims()).filter(isReady).length < 3) {
    await new Promise((res) => setTimeout(res, 200));
  }
  await c.kubectl(['delete', 'pod', '-n', SYSTEM_NS, before[0] ?? '', '--grace-period=0', '--force']);
  const killMs = since(t0);
  const readyAtKill = (await listClaims()).filter(isReady).length;
  await creating;

  let all: Obj[] = [];
  for (;;) {
    all = await listClaims();
    if (all.length === N && all.every(isReady)) break;
    if (since(t0) > 300_000) break;
    await new Promise((res) => setTimeout(res, 1_000));
  }
  const allReadyMs = since(t0);
  await waitRollout(c, CONTROLLER_DEPLOYMENT);
  const after = await controllerPods();

  const sandboxes = (await getJson<{ items: Obj[] }>(c, ['sandboxes', '-n', NS])).items;
  const pods = (await getJson<{ items: Obj[] }>(c, ['pods', '-n', NS])).items;
  const podByName = new Map(pods.map((p) => [p.metadata.name, p]));
  const warm = sandboxes.filter((s) => s.metadata.labels?.['sandbank.dev/launch-type'] === 'warm').length;
  process.stderr.write(
    `[e2e] burst: controller killed at ${killMs} ms with ${readyAtKill} Ready, ${N} claims created at ${createdMs} ms, ` +
      `all Ready at ${allReadyMs} ms (${warm} warm, ${N - warm} cold)\n`,
  );

  expect(readyAtKill).toBeLessThan(N);
  expect(after).toHaveLength(1);
  expect(after[0]).not.toBe(before[0]);
  expect(all.filter((cl) => !isReady(cl)).map((cl) => cl.metadata.name)).toEqual([]);
  expect(all).toHaveLength(N);

  // claim -> Sandbox (same name) -> Pod: one-to-one, and the Pod carries that claim's uid
  const boundPods = all.map((cl) => {
    const sb = sandboxes.find((s) => s.metadata.name === cl.metadata.name);
    expect(sb).toBeDefined();
    const podName = sb?.metadata.annotations?.['agents.x-k8s.io/pod-name'] ?? cl.metadata.name;
    expect(podByName.get(podName)?.metadata.labels?.['agents.x-k8s.io/claim-uid']).toBe(cl.metadata.uid);
    return podName;
  });
  expect(new Set(boundPods).size).toBe(N);
  const claimUids = pods
    .map((p) => p.metadata.labels?.['agents.x-k8s.io/claim-uid'])
    .filter((u) => u !== undefined);
  expect(new Set(claimUids).size).toBe(claimUids.length);
  // The watch was alive for the whole run: it never ended or failed, and it has delivered every
  // pod of the namespace at the version the API server holds now (it was still delivering).
  let lag = 'not compared yet';
  for (const deadline = performance.now() + 60_000; lag !== '' && performance.now() < deadline;) {
    const now = (await getJson<{ items: Versioned[] }>(c, ['pods', '-n', NS])).items;
    const current = new Map(now.map((p) => [p.metadata.name, p.metadata.resourceVersion ?? '']));
    const behind = [
      ...[...current]
        .filter(([name, rv]) => delivered.get(name) !== rv)
        .map(([name, rv]) => `${name} at ${rv}, delivered ${delivered.get(name) ?? 'never'}`),
      ...[...delivered.keys()]
        .filter((name) => !current.has(name))
        .map((name) => `${name} gone, not delivered`),
    ];
    lag = behind.slice(0, 5).join('; ');
    if (lag !== '') await new Promise((res) => setTimeout(res, 1_000));
  }
  expect(watchProblems).toEqual([]);
  expect(lag).toBe('');
  expect(delivered.size).toBeGreaterThanOrEqual(N); // the N bound pods at least: not vacuous

  // no pod ever moved from one claim to another
  const moved = [...seen].filter(([, uids]) => uids.size > 1).map(([name]) => name);
  expect(moved).toEqual([]);
}, 420_000);
