import { Labels, nameHash } from '@sandbank/api';
import { resolveSandbox } from '../../src/index.js';
import type { CacheReader } from '../../src/index.js';
import { podEntry, sandboxEntry } from '../../src/resolve/model.js';

type Pod = Parameters<typeof podEntry>[0];

const pod = (name: string, labels: Record<string, string>, ready = true, ip = '10.0.0.7'): Pod => ({
  metadata: { name, namespace: 'ns', uid: `uid-${name}`, labels },
  status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

function cache(opts: { claimUid?: string; sandboxOwner?: string; podName?: string; pod?: Pod }): CacheReader {
  return {
    claim: (_ns, name) =>
      opts.claimUid && name === 'c1' ? { namespace: 'ns', name, uid: opts.claimUid } : undefined,
    sandbox: (_ns, name) =>
      name === 'c1'
        ? sandboxEntry({
            metadata: {
              name: 'c1',
              namespace: 'ns',
              uid: 's',
              annotations: opts.podName ? { 'agents.x-k8s.io/pod-name': opts.podName } : {},
              ownerReferences: opts.sandboxOwner
                ? [
                    {
                      apiVersion: 'x/v1',
                      kind: 'SandboxClaim',
                      name: 'c1',
                      uid: opts.sandboxOwner,
                      controller: true,
                    },
                  ]
                : [],
            },
          })
        : undefined,
    pod: (_ns, name) => (opts.pod && opts.pod.metadata.name === name ? podEntry(opts.pod) : undefined),
  };
}

const bound = (extra: Record<string, string> = {}): Record<string, string> => ({
  [Labels.sandboxNameHash]: nameHash('c1'),
  [Labels.claimUid]: 'u1',
  ...extra,
});
const ref = { namespace: 'ns', name: 'c1' };

describe('resolveSandbox', () => {
  test('claim → Sandbox → adopted pod (annotation) → Ready pod IP', () => {
    const r = resolveSandbox(
      cache({ claimUid: 'u1', sandboxOwner: 'u1', podName: 'warm-x', pod: pod('warm-x', bound()) }),
      ref,
    );
    expect(r).toEqual({
      kind: 'ready',
      endpoint: {
        namespace: 'ns',
        sandbox: 'c1',
        podName: 'warm-x',
        podUid: 'uid-warm-x',
        ip: '10.0.0.7',
        protocol: 'unknown',
      },
    });
  });

  test('a cold-started pod is named like the Sandbox', () => {
    expect(
      resolveSandbox(cache({ claimUid: 'u1', sandboxOwner: 'u1', pod: pod('c1', bound()) }), ref).kind,
    ).toBe('ready');
  });

  test.each([
    ['the pod still carries the warm-pool label', pod('p', bound({ [Labels.pool]: 'h' })), 'not_ready'],
    [
      'the pod hash names another sandbox',
      pod('p', bound({ [Labels.sandboxNameHash]: nameHash('other') })),
      'not_ready',
    ],
    ['the pod is bound to another claim', pod('p', bound({ [Labels.claimUid]: 'u2' })), 'not_ready'],
    ['the pod is not Ready', pod('p', bound(), false), 'not_ready'],
  ])('not routable when %s', (_why, p, kind) => {
    expect(
      resolveSandbox(cache({ claimUid: 'u1', sandboxOwner: 'u1', podName: 'p', pod: p }), ref).kind,
    ).toBe(kind);
  });

  test('a Sandbox whose claim is gone (or replaced) is not found', () => {
    expect(
      resolveSandbox(cache({ sandboxOwner: 'u1', podName: 'p', pod: pod('p', bound()) }), ref).kind,
    ).toBe('not_found');
    expect(
      resolveSandbox(cache({ claimUid: 'u9', sandboxOwner: 'u1', podName: 'p', pod: pod('p', bound()) }), ref)
        .kind,
    ).toBe('not_found');
  });

  test('a claim without its Sandbox yet is not ready; nothing at all is not found', () => {
    const c = cache({ claimUid: 'u1' });
    expect(resolveSandbox({ ...c, sandbox: () => undefined }, ref).kind).toBe('not_ready');
    expect(resolveSandbox(cache({}), { namespace: 'ns', name: 'zz' }).kind).toBe('not_found');
  });

  test('the agent protocol label is read from the pod', () => {
    const r = resolveSandbox(
      cache({
        claimUid: 'u1',
        sandboxOwner: 'u1',
        podName: 'p',
        pod: pod('p', bound({ 'sandbank.dev/agent-protocol': 'http' })),
      }),
      ref,
    );
    expect(r.kind === 'ready' && r.endpoint.protocol).toBe('http');
  });
});
