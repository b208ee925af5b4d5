/**
 * A pod's agent credential as the controller writes it: the annotation, the digest in every
 * container (a template's own digest replaced, other variables kept), and a nonce of its own for
 * every pod created, even from one body (a warm pool creates its members from one).
 */
import type { Pod } from '@sandbank/api';
import {
  AGENT_CREDENTIAL_ANNOTATION,
  AGENT_TOKEN_DIGEST_ENV,
  PODS,
  SERVICES,
  agentToken,
  agentTokenDigest,
} from '@sandbank/kube';
import type { KubeClient, KubeObject } from '@sandbank/kube';
import { withPodCredentials } from '../../../src/agent-credentials.js';
import { podCredential, withAgentCredential } from '../../../src/reconcilers/shared/pure-agent-credential.js';

const KEY = Buffer.alloc(32, 9);
const ANNOTATION = 'v1.oKGio6SlpqeoqaqrrK2urw';

const body = (): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'pool-', annotations: { keep: 'this' } },
  spec: {
    containers: [
      {
        name: 'agent',
        env: [
          { name: 'A', value: '1' },
          { name: AGENT_TOKEN_DIGEST_ENV, value: 'f'.repeat(64) },
        ],
      },
      { name: 'other' },
    ],
    initContainers: [
      { name: 'sidecar', env: [{ name: AGENT_TOKEN_DIGEST_ENV, valueFrom: { secretKeyRef: {} } }] },
    ],
  },
});

describe('withAgentCredential', () => {
  it('annotates the pod and gives every container the digest of its token, and only that', () => {
    const credential = podCredential(KEY, 'team-a', ANNOTATION);
    expect(credential).toEqual({
      annotation: ANNOTATION,
      digest: agentTokenDigest(agentToken(KEY, 'team-a', ANNOTATION)),
    });
    const pod = withAgentCredential(body(), credential);
    expect(pod.metadata.annotations).toEqual({ keep: 'this', [AGENT_CREDENTIAL_ANNOTATION]: ANNOTATION });
    const digest = { name: AGENT_TOKEN_DIGEST_ENV, value: credential.digest };
    expect(pod.spec.containers.map((c) => c['env'])).toEqual([[{ name: 'A', value: '1' }, digest], [digest]]);
    expect(pod.spec.initContainers?.map((c) => c['env'])).toEqual([[digest]]);
    expect(JSON.stringify(pod)).not.toContain(agentToken(KEY, 'team-a', ANNOTATION));
    // The body it was given is left alone (plans may hold on to it).
    expect(body().spec.containers[0]?.['env']).toHaveLength(2);
  });
});

describe('withPodCredentials', () => {
  function recording(): { client: KubeClient; written: KubeObject[] } {
    const written: KubeObject[] = [];
    const write = (_type: unknown, _ns: string, obj: KubeObject) => {
      written.push(obj);
      return Promise.resolve(obj as never);
    };
    const unused = () => Promise.reject(new Error('not used'));
    const client: KubeClient = {
      get: unused,
      list: unused,
      create: write,
      createIfAbsent: write,
      replace: write,
      mergePatch: unused,
      patchStatus: unused,
      delete: unused,
    };
    return { client, written };
  }

  it('gives every pod it creates a nonce of its own, even from one body; other kinds pass as they are', async () => {
    const { client, written } = recording();
    const credentialed = withPodCredentials(client, KEY);
    const one = body();
    await Promise.all([
      credentialed.create(PODS, 'team-a', one),
      credentialed.create(PODS, 'team-a', one),
      credentialed.createIfAbsent(PODS, 'team-a', one),
    ]);
    const annotations = written.map((p) => p.metadata.annotations?.[AGENT_CREDENTIAL_ANNOTATION]);
    expect(new Set(annotations).size).toBe(3);
    for (const [i, pod] of written.entries()) {
      const env = (pod as Pod).spec.containers[1]?.['env'];
      expect(env).toEqual([
        {
          name: AGENT_TOKEN_DIGEST_ENV,
          value: agentTokenDigest(agentToken(KEY, 'team-a', annotations[i] ?? '')),
        },
      ]);
    }
    const service = { metadata: { name: 's' }, spec: {} };
    await credentialed.create(SERVICES, 'team-a', service);
    expect(written[3]).toBe(service);
    // A bound pod is replaced as it is: its credential was set when it was created.
    const bound = { ...one, metadata: { ...one.metadata, name: 'p', resourceVersion: '1' } };
    await credentialed.replace(PODS, 'team-a', bound);
    expect(written[4]).toBe(bound);
  });

  it('refuses a short key', () => {
    expect(() => withPodCredentials(recording().client, Buffer.alloc(16))).toThrow(/at least 32/);
  });
});
