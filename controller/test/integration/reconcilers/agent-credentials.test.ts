/**
 * Per-pod agent credentials, against the real API server: the agent key's Secret is made once
 * however many controllers start together (and a short key stops them), and every pod the
 * controller makes, warm or cold, carries its own nonce and, in every container, the digest of
 * the token derived from the Secret's key — never the token.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { integrationKubeConfig } from '@sandbank/e2e';
import {
  AGENT_CREDENTIAL_ANNOTATION,
  AGENT_TOKEN_DIGEST_ENV,
  SECRETS,
  agentToken,
  agentTokenDigest,
  createKubeClient,
  parseCredentialAnnotation,
} from '@sandbank/kube';
import type { KubeClient, KubeObject, ResourceType } from '@sandbank/kube';
import { CORE_GROUP, EXT, compliantPodSpec, startController, type Obj } from '@sandbank/testing';
import { AgentKeyError, ensureAgentKey } from '../../../src/agent-credentials.js';
import type { ControllerApp } from '../../../src/app.js';
import { startControllerInProcess } from '../support.js';

const kc: KubeConfig = integrationKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const ns = `ctrl-cred-${process.pid}-${Date.now().toString(36)}`;
const KEY_SECRET = 'sandbank-agent-key';

let app: ControllerApp | undefined;

interface Container {
  readonly name: string;
  readonly env?: readonly { name: string; value?: string }[];
}

/** The agent key as the Secret holds it, read straight from the API server. */
async function secretKey(name: string): Promise<Buffer> {
  const secret = await core.readNamespacedSecret({ name, namespace: ns });
  return Buffer.from(secret.data?.['key'] ?? '', 'base64');
}

async function pods(): Promise<Obj[]> {
  return (await core.listNamespacedPod({ namespace: ns })).items as unknown as Obj[];
}

/** Polls (bounded) until `check` returns a value. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within 60 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `client`, whose Secret reads wait until `n` of them have been made: every start sees no Secret. */
function togetherAfterGet(client: KubeClient, n: number): KubeClient {
  let arrived = 0;
  let release: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (release = resolve));
  return {
    ...client,
    get: async <T extends KubeObject, N extends boolean = true>(
      type: ResourceType<N>,
      namespace: string,
      name: string,
    ) => {
      const result = await client.get<T, N>(type, namespace, name);
      if (type === SECRETS && ++arrived === n) release();
      if (type === SECRETS) await all;
      return result;
    },
  };
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: ns } } });
}, 60_000);

afterAll(async () => {
  await app?.manager.stop();
  await core.deleteNamespace({ name: ns });
}, 60_000);

describe('the agent key', () => {
  it('is created once when controllers start together, and every one of them uses it', async () => {
    const ref = { namespace: ns, name: 'raced-key' };
    // Four starts that all read "no Secret" before any creates it: one create wins, the others
    // get 409 and read the winner's key.
    const racing = togetherAfterGet(createKubeClient(kc), 4);
    const starts = await Promise.all(Array.from({ length: 4 }, () => ensureAgentKey(racing, ref)));
    expect(starts.filter((s) => s.created)).toHaveLength(1);
    const stored = await secretKey('raced-key');
    expect(stored).toHaveLength(32);
    for (const s of starts) expect(s.key.equals(stored)).toBe(true);
    const secret = await core.readNamespacedSecret({ name: 'raced-key', namespace: ns });
    expect(secret.immutable).toBe(true);
    const again = await ensureAgentKey(createKubeClient(kc), ref);
    expect([again.created, again.key.equals(stored)]).toEqual([false, true]);
  });

  it('stops the controller when the Secret holds a short key or none, naming the Secret', async () => {
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'short-key' }, data: { key: Buffer.alloc(16, 1).toString('base64') } },
    });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'no-key' }, data: { other: 'eA==' } },
    });
    const client = createKubeClient(kc);
    await expect(ensureAgentKey(client, { namespace: ns, name: 'short-key' })).rejects.toThrow(AgentKeyError);
    await expect(ensureAgentKey(client, { namespace: ns, name: 'short-key' })).rejects.toThrow(
      new RegExp(`Secret ${ns}/short-key, key "key": the agent key is 16 bytes; it must be at least 32`),
    );
    await expect(ensureAgentKey(client, { namespace: ns, name: 'no-key' })).rejects.toThrow(
      /has no key "key"/,
    );
    await expect(
      ensureAgentKey(client, { namespace: `${ns}-missing`, name: KEY_SECRET }, { retryForMs: 1_000 }),
    ).rejects.toThrow(/does namespace .*-missing exist/);

    // The process itself: exit 2 with the message, before it reconciles anything.
    const proc = await startController({
      kubeconfigPath: process.env['SANDBANK_KUBECONFIG'] ?? '',
      namespace: ns,
      env: { AGENT_KEY_SECRET: `${ns}/short-key` },
    });
    try {
      const exited = await Promise.race([
        proc.exited,
        new Promise<string>((resolve) =>
          setTimeout(() => resolve('still running after 90 s'), 90_000).unref(),
        ),
      ]);
      expect(exited).toBe(2);
      expect(proc.output()).toMatch(
        new RegExp(
          `sandbank-controller: agent key: Secret ${ns}/short-key, key "key": the agent key is 16 bytes`,
        ),
      );
    } finally {
      await proc.kill();
    }
  }, 120_000);
});

describe('pods', () => {
  it('warm and cold: each its own nonce, every container the digest of its token, never the token', async () => {
    const { key } = await ensureAgentKey(createKubeClient(kc), { namespace: ns, name: KEY_SECRET });
    app = await startControllerInProcess(kc, { watchNamespace: ns, agentKey: key });
    const spec = compliantPodSpec() as { containers: Record<string, unknown>[] };
    const template = (name: string) => ({
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxTemplate',
      metadata: { name },
      spec: {
        podTemplate: {
          spec: {
            ...spec,
            // A digest the template sets itself is replaced; a sidecar-style init container gets one too.
            containers: [
              ...spec.containers.map((c) => ({
                ...c,
                env: [{ name: AGENT_TOKEN_DIGEST_ENV, value: 'f'.repeat(64) }],
              })),
              {
                name: 'second',
                image: 'ghcr.io/sandbank/runtime:0.1.0',
                env: [{ name: 'KEEP', value: 'me' }],
              },
            ],
            initContainers: [{ name: 'init', image: 'ghcr.io/sandbank/runtime:0.1.0' }],
          },
        },
      },
    });
    const create = (plural: string, body: Record<string, unknown>) =>
      custom.createNamespacedCustomObject({
        ...(plural === 'sandboxes' ? CORE_GROUP : EXT),
        namespace: ns,
        plural,
        body,
      });
    await create('sandboxtemplates', template('warm'));
    await create('sandboxtemplates', template('cold'));
    await create('sandboxwarmpools', {
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxWarmPool',
      metadata: { name: 'warm' },
      spec: { replicas: 3, sandboxTemplateRef: { name: 'warm' } },
    });
    await create('sandboxclaims', {
      apiVersion: `${EXT.group}/${EXT.version}`,
      kind: 'SandboxClaim',
      metadata: { name: 'cold-claim' },
      spec: { sandboxTemplateRef: { name: 'cold' } },
    });

    const made = await eventually('3 warm pods and the cold one', async () => {
      const all = await pods();
      const warm = all.filter((p) => p.metadata.generateName === 'warm-');
      const cold = all.filter((p) => p.metadata.name === 'cold-claim');
      return warm.length >= 3 && cold.length === 1 ? [...warm, ...cold] : undefined;
    });

    // The key is the Secret's, read back here, not the one the controller was handed.
    const stored = await secretKey(KEY_SECRET);
    expect(stored.equals(key)).toBe(true);
    const nonces = new Set<string>();
    for (const pod of made) {
      const name = pod.metadata.name ?? '';
      const annotation = pod.metadata.annotations?.[AGENT_CREDENTIAL_ANNOTATION];
      expect({ name, annotation }).toEqual({ name, annotation: expect.stringMatching(/^v1\./) as unknown });
      if (annotation === undefined) continue;
      expect(parseCredentialAnnotation(annotation)).toHaveLength(16);
      nonces.add(annotation);
      const token = agentToken(stored, ns, annotation);
      const digest = agentTokenDigest(token);
      const podSpec = pod.spec as unknown as { containers: Container[]; initContainers?: Container[] };
      for (const c of [...podSpec.containers, ...(podSpec.initContainers ?? [])]) {
        const env = (c.env ?? []).filter((e) => e.name === AGENT_TOKEN_DIGEST_ENV);
        expect({ name, container: c.name, env }).toEqual({
          name,
          container: c.name,
          env: [{ name: AGENT_TOKEN_DIGEST_ENV, value: digest }],
        });
      }
      expect(podSpec.containers.find((c) => c.name === 'second')?.env).toContainEqual({
        name: 'KEEP',
        value: 'me',
      });
      // The token is in no field of the pod.
      expect(JSON.stringify(pod)).not.toContain(token);
    }
    expect(nonces.size).toBe(made.length);
  });
});
