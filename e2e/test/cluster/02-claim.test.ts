// DESIGN §1 without Python: `kubectl apply -f examples/claim.yaml` (unchanged) binds a warm pod of
// the pool make up installed; deleting the claim removes its Sandbox and Pod; the pool refills.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../src/cluster/paths.js';
import { type Obj, waitFor } from '@sandbank/testing';
import {
  POOL,
  POOL_NS,
  SANDBOXES,
  cluster,
  getJson,
  since,
  waitClaimReady,
  waitPoolReady,
} from './helpers.js';
import type { Cluster } from './helpers.js';

let c: Cluster;
const CLAIM = 'my-sandbox'; // the name in examples/claim.yaml

beforeAll(async () => {
  c = cluster();
  await waitPoolReady(c);
});

afterAll(async () => {
  await c.kubectl(['delete', 'sandboxclaim', CLAIM, '-n', POOL_NS, '--ignore-not-found']);
});

const poolPods = async (): Promise<Obj[]> =>
  (await getJson<{ items: Obj[] }>(c, ['pods', '-n', POOL_NS, '-l', 'agents.x-k8s.io/pool'])).items;

test('a SandboxClaim applied alone binds a warm pod; deleting it removes Sandbox and Pod; the pool refills', async () => {
  const warm = (await poolPods()).map((p) => p.metadata.name);
  expect(warm).toHaveLength(2);

  const t0 = performance.now();
  await c.kubectl(['apply', '-n', POOL_NS, '-f', '-'], {
    input: readFileSync(join(repoRoot, 'examples', 'claim.yaml'), 'utf8'),
  });
  const claim = await waitClaimReady(c, POOL_NS, CLAIM, 30_000);
  const readyMs = since(t0);
  // Reported, not asserted: how fast a warm claim gets Ready is measured by bench/ (make
  // bench-cluster); here the bind must be warm, which is checked below.
  process.stderr.write(`[e2e] kubectl apply -> claim Ready: ${readyMs} ms (kubectl process included)\n`);

  const sandbox = await getJson<Obj>(c, ['sandbox', CLAIM, '-n', POOL_NS]);
  const podName = sandbox.metadata.annotations?.['agents.x-k8s.io/pod-name'] ?? CLAIM;
  expect(podName.startsWith(`${POOL}-`)).toBe(true);
  expect(warm).toContain(podName);
  expect(sandbox.metadata.labels?.['sandbank.dev/launch-type']).toBe('warm');
  const pod = await getJson<Obj>(c, ['pod', podName, '-n', POOL_NS]);
  expect(pod.metadata.labels?.['agents.x-k8s.io/claim-uid']).toBe(claim.metadata.uid);
  expect(pod.metadata.labels?.['agents.x-k8s.io/pool']).toBeUndefined();
  expect(pod.status?.phase).toBe('Running');

  await c.kubectl(['delete', 'sandboxclaim', CLAIM, '-n', POOL_NS, '--wait=true']);
  await waitFor(c.kc, `${SANDBOXES}/namespaces/${POOL_NS}/sandboxes`, CLAIM, (o) => o === undefined, {
    timeoutMs: 60_000,
    description: `sandbox ${CLAIM} deleted`,
  });
  await waitFor(c.kc, `/api/v1/namespaces/${POOL_NS}/pods`, podName, (o) => o === undefined, {
    timeoutMs: 90_000,
    description: `pod ${podName} deleted`,
  });

  await waitPoolReady(c, 2);
  const refilled = (await poolPods()).map((p) => p.metadata.name);
  expect(refilled).toHaveLength(2);
  expect(refilled).not.toContain(podName);
}, 240_000);
