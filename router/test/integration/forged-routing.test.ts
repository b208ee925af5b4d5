/**
 * Routing follows owner references by UID against the real API server: a Sandbox created by
 * someone who may create Sandboxes (no claim, a pod-name annotation naming another tenant's Pod,
 * a name whose 32-bit hash collides with the victim's) reaches nothing, nor does one naming a Pod
 * whose labels were changed to match it; the legitimate claims keep routing.
 */
import { credentials, Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { Labels, nameHash } from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import { createAgentClient } from '@sandbank/proto';
import { createClusterLookup, createLogger } from '../../src/index.js';
import type { SandboxLookup } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { Changes, TestCluster } from '@sandbank/testing';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';

// Two DNS-1123 names whose 32-bit FNV-1a hashes collide (found by a birthday search).
const VICTIM = 'victim-6pwv';
const FORGED = 'victim-d5fb';

const kc = integrationKubeConfig();
const cluster = new TestCluster(kc, 'router-forged');
const ns = cluster.namespace;
const changes = new Changes();
let agent: TestAgent;
let lookup: SandboxLookup;
let router: TestRouter;

const ref = (name: string) => ({ namespace: ns, name });
const stat = (name: string): Promise<Response> =>
  fetch(`${router.url}/v1/namespaces/${ns}/sandboxes/${name}/stat?path=.`);
const errorCode = async (res: Response): Promise<string> =>
  ((await res.json()) as { error: { code: string } }).error.code;

beforeAll(async () => {
  await cluster.setUp();
  agent = await startAgent({ ip: '127.0.0.8', grpcPort: 0 });
  lookup = createClusterLookup({
    kc,
    namespaces: [ns],
    log: createLogger('silent'),
    onChange: changes.notify,
  });
  router = await startRouter({
    lookup,
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
  });
});

afterAll(async () => {
  await router?.close();
  await lookup?.close();
  await agent?.close();
  await cluster.tearDown();
});

test("a forged Sandbox with a colliding name and pod-name = another tenant's Pod is refused on every surface", async () => {
  expect(nameHash(FORGED)).toBe(nameHash(VICTIM));
  const victim = await cluster.bindSandbox(VICTIM, '127.0.0.8');
  await changes.routable(lookup, ref(VICTIM));
  await cluster.createSandbox(FORGED, { podName: victim.podName });
  await changes.until(() => lookup.resolve(ref(FORGED)).kind !== 'not_found', `${FORGED} seen`);

  expect(lookup.resolve(ref(FORGED)).kind).toBe('not_ready');
  const v1 = await stat(FORGED);
  expect(v1.status).toBe(503);
  expect(await errorCode(v1)).toBe('sandbox_not_ready');
  const legacy = await fetch(`${router.url}/exists/x`, {
    headers: { 'x-sandbox-id': FORGED, 'x-sandbox-namespace': ns },
  });
  expect(legacy.status).toBe(503);
  const client = createAgentClient(router.grpcAddress, credentials.createInsecure());
  try {
    const md = new Metadata();
    md.set('x-sandbox-id', FORGED);
    md.set('x-sandbox-namespace', ns);
    const refused = await new Promise<ServiceError | null>((resolve) =>
      client.stat({ path: '.' }, md, (e) => resolve(e)),
    );
    expect(refused?.code).toBe(GrpcStatus.UNAVAILABLE);
  } finally {
    client.close();
  }
  // The tenant it aimed at keeps working.
  expect((await stat(VICTIM)).status).toBe(200);
});

test("a forged Sandbox naming another tenant's Pod relabelled to match it is refused", async () => {
  const victim = await cluster.bindSandbox('tenant-b', '127.0.0.8');
  await changes.routable(lookup, ref('tenant-b'));
  await cluster.createSandbox('evil', { podName: victim.podName });
  await changes.until(() => lookup.resolve(ref('evil')).kind !== 'not_found', 'evil seen');
  // Whoever may edit Pods gives the victim's the forged name's hash, and the agent-protocol label,
  // whose value in the victim's endpoint shows when the watch has delivered the change.
  await cluster.relabelPod(victim.podName, {
    [Labels.sandboxNameHash]: nameHash('evil'),
    'sandbank.dev/agent-protocol': 'grpc',
  });
  await changes.until(() => {
    const evil = lookup.resolve(ref('evil'));
    const b = lookup.resolve(ref('tenant-b'));
    return evil.kind === 'ready' || (b.kind === 'ready' && b.endpoint.protocol === 'grpc');
  }, 'the relabelled pod seen');

  expect(lookup.resolve(ref('evil')).kind).toBe('not_ready');
  expect((await stat('evil')).status).toBe(503);
  // Labels were never the proof for the victim either: its claim still reaches its Pod.
  expect((await stat('tenant-b')).status).toBe(200);
});

test('a warm Pod bound to its claim routes before the Sandbox adopts it; bound to another claim, not', async () => {
  const claimUid = await cluster.createClaim('warm-claim');
  const labels = { [Labels.sandboxNameHash]: nameHash('warm-claim'), [Labels.claimUid]: claimUid };
  await cluster.createPod('pool-x', labels, { kind: 'SandboxClaim', name: 'warm-claim', uid: claimUid });
  await cluster.setPodStatus('pool-x', '127.0.0.8', true);
  await cluster.createSandbox('warm-claim', { podName: 'pool-x', claimUid });
  await changes.routable(lookup, ref('warm-claim'));
  expect((await stat('warm-claim')).status).toBe(200);

  // A claim whose Sandbox names that same Pod: the Pod is the first claim's, not this one's.
  const otherUid = await cluster.createClaim('other-claim');
  await cluster.createSandbox('other-claim', { podName: 'pool-x', claimUid: otherUid });
  await changes.until(() => {
    const r = lookup.resolve(ref('other-claim'));
    return r.kind === 'ready' || (r.kind === 'not_ready' && r.message.includes('no bound pod'));
  }, 'the Sandbox of other-claim seen');
  expect(lookup.resolve(ref('other-claim')).kind).toBe('not_ready');
  expect((await stat('other-claim')).status).toBe(503);
});
