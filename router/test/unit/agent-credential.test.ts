/**
 * The router's side of per-pod agent credentials: the key file as the Secret's bytes, the pod's
 * annotation carried from the pod cache to the endpoint, and the header derived from both (or a
 * refusal naming what is wrong). The end-to-end proof, with real agents, is in
 * integration/auth-and-limits.test.ts.
 */
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { SANDBOX_KIND } from '@sandbank/api';
import { AGENT_CREDENTIAL_ANNOTATION, agentToken, credentialAnnotation } from '@sandbank/kube';
import { ConfigError, RouterError, createLogger, loadConfig, resolveSandbox } from '../../src/index.js';
import type { Endpoint } from '../../src/index.js';
import { SandboxGateway } from '../../src/agent/gateway.js';
import { AgentPool } from '../../src/agent/pool.js';
import { PodView, podEntry } from '../../src/resolve/model.js';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => 255 - i));
const base = { ROUTER_AUTH_MODE: 'none', ROUTER_HOST: '127.0.0.1' };

describe('ROUTER_AGENT_KEY_FILE', () => {
  test('is read as the raw bytes of the Secret (no decoding, no trimming)', () => {
    // A random key may end in a newline or hold bytes that are not UTF-8.
    const key = Buffer.concat([Buffer.alloc(31, 0xff), Buffer.from('\n')]);
    const c = loadConfig({ ...base, ROUTER_AGENT_KEY_FILE: '/key' }, undefined, undefined, (path) => {
      expect(path).toBe('/key');
      return key;
    });
    expect(c.agentKey?.equals(key)).toBe(true);
    expect(loadConfig(base).agentKey).toBeUndefined();
  });

  test('a short or unreadable key stops the router, naming the variable', () => {
    const read = (bytes: Buffer) => () => bytes;
    const env = { ...base, ROUTER_AGENT_KEY_FILE: '/key' };
    expect(() => loadConfig(env, undefined, undefined, read(Buffer.alloc(31)))).toThrow(ConfigError);
    expect(() => loadConfig(env, undefined, undefined, read(Buffer.alloc(31)))).toThrow(
      /ROUTER_AGENT_KEY_FILE: \/key: the agent key is 31 bytes; it must be at least 32/,
    );
    expect(() =>
      loadConfig(env, undefined, undefined, () => {
        throw new Error('ENOENT');
      }),
    ).toThrow(/ROUTER_AGENT_KEY_FILE: cannot read \/key/);
  });
});

/** The endpoint of sandbox `sb` whose pod carries `annotations`, through the router's own view. */
function endpointWith(annotations: Record<string, string>): Endpoint {
  const pod = podEntry(
    PodView.parse({
      metadata: {
        name: 'pod-sb',
        namespace: 'team-a',
        uid: 'pod-uid',
        annotations,
        ownerReferences: [
          {
            apiVersion: 'agents.x-k8s.io/v1alpha1',
            kind: SANDBOX_KIND,
            name: 'sb',
            uid: 'sb-uid',
            controller: true,
          },
        ],
      },
      status: { phase: 'Running', podIP: '10.0.0.9', conditions: [{ type: 'Ready', status: 'True' }] },
    }),
  );
  const resolution = resolveSandbox(
    {
      claim: () => undefined,
      claimByUid: () => undefined,
      sandbox: () => ({
        namespace: 'team-a',
        name: 'sb',
        uid: 'sb-uid',
        podName: 'pod-sb',
        claimUid: undefined,
      }),
      pod: () => pod,
    },
    { namespace: 'team-a', name: 'sb' },
  );
  if (resolution.kind !== 'ready') throw new Error(`not routable: ${resolution.message}`);
  return resolution.endpoint;
}

function gateway(agentKey: Buffer | undefined): SandboxGateway {
  return new SandboxGateway({
    lookup: {
      resolve: () => ({ kind: 'not_found', message: 'unused' }),
      hasSynced: () => true,
      oomKilledAfter: () => Promise.resolve(false),
      close: async () => {},
    },
    pool: new AgentPool({ grpcPort: 1 }),
    log: createLogger('silent'),
    agentKey,
  });
}

describe('the credential a call carries', () => {
  test("is the token derived from the key, the pod's namespace and its annotation", () => {
    const annotation = credentialAnnotation();
    const endpoint = endpointWith({ [AGENT_CREDENTIAL_ANNOTATION]: annotation });
    expect(endpoint.agentCredential).toBe(annotation);
    const expected = `Bearer ${agentToken(KEY, 'team-a', annotation)}`;
    expect(gateway(KEY).authorization(endpoint)).toBe(expected);
    expect(gateway(KEY).metadata(endpoint, ROOT_CONTEXT).get('authorization')).toEqual([expected]);
  });

  test('is absent for a pod without the annotation', () => {
    const endpoint = endpointWith({ other: 'x' });
    expect(endpoint.agentCredential).toBeUndefined();
    expect(gateway(KEY).authorization(endpoint)).toBeUndefined();
    expect(gateway(undefined).authorization(endpoint)).toBeUndefined();
    expect(gateway(KEY).metadata(endpoint, ROOT_CONTEXT).get('authorization')).toEqual([]);
  });

  test('is refused (502 upstream_failed) for a malformed annotation or a router without a key', () => {
    const malformed = endpointWith({ [AGENT_CREDENTIAL_ANNOTATION]: 'v1.short' });
    const refusal = (fn: () => unknown): RouterError => {
      try {
        fn();
      } catch (error) {
        if (error instanceof RouterError) return error;
        throw error;
      }
      throw new Error('expected a RouterError');
    };
    const bad = refusal(() => gateway(KEY).metadata(malformed, ROOT_CONTEXT));
    expect([bad.code, bad.httpStatus]).toEqual(['upstream_failed', 502]);
    expect(bad.message).toBe(
      'pod team-a/pod-sb of sandbox sb cannot be called: annotation sandbank.dev/agent-credential "v1.short": must be "v1." followed by 16 bytes in base64url',
    );
    const keyless = refusal(() =>
      gateway(undefined).authorization(
        endpointWith({ [AGENT_CREDENTIAL_ANNOTATION]: credentialAnnotation() }),
      ),
    );
    expect([keyless.code, keyless.message]).toEqual([
      'upstream_failed',
      'pod team-a/pod-sb of sandbox sb requires an agent credential, and this router has no agent key (ROUTER_AGENT_KEY_FILE)',
    ]);
  });
});
