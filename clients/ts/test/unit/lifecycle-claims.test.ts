/** Claims as the client writes and reads them: the version, the body, the outcome of a Ready condition. */
import {
  ClaimFailed,
  ConfigurationError,
  KubernetesError,
  TemplateNotFound,
  WarmPoolNotFound,
} from '../../src/client-errors.js';
import {
  claimBody,
  claimOutcome,
  claimState,
  claimVersion,
  type ClaimObject,
} from '../../src/kube/claims.js';

const both = { v1beta1: true, v1alpha1: true };
const betaOnly = { v1beta1: true, v1alpha1: false };
const alphaOnly = { v1beta1: false, v1alpha1: true };

describe('claimVersion', () => {
  test.each([
    [both, { pool: 'p' }, 'v1beta1'],
    [both, { pool: 'p', template: 't' }, 'v1beta1'],
    [both, { template: 't' }, 'v1alpha1'],
    [both, { template: 't', pool: 'none' }, 'v1alpha1'],
    [alphaOnly, { pool: 'p' }, 'v1alpha1'],
    [betaOnly, { pool: 'p' }, 'v1beta1'],
  ] as const)('%j + %j → %s', (served, request, version) => {
    expect(claimVersion(served, request)).toBe(version);
  });

  test('a template alone cannot be said to a v1beta1-only server', () => {
    expect(() => claimVersion(betaOnly, { template: 't' })).toThrow(ConfigurationError);
    expect(() => claimVersion(betaOnly, { template: 't' })).toThrow(/^pool: /);
  });

  test('neither template nor pool; or no version served', () => {
    expect(() => claimVersion(both, {})).toThrow(/^template: /);
    expect(() => claimVersion({ v1beta1: false, v1alpha1: false }, { pool: 'p' })).toThrow(KubernetesError);
  });
});

describe('claimBody', () => {
  const now = new Date('2026-01-02T03:04:05.678Z');

  test('v1beta1 names the pool; env, labels and a lifecycle as asked', () => {
    expect(
      claimBody(
        'v1beta1',
        'c',
        { pool: 'p', env: { A: '1' }, labels: { team: 'x' }, shutdownAfterSeconds: 60 },
        undefined,
        now,
      ),
    ).toEqual({
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxClaim',
      metadata: { name: 'c', labels: { team: 'x' } },
      spec: {
        warmPoolRef: { name: 'p' },
        env: [{ name: 'A', value: '1' }],
        lifecycle: { shutdownTime: '2026-01-02T03:05:05Z', shutdownPolicy: 'Delete' },
      },
    });
  });

  test("v1alpha1 names the template (the pool's when given) and the warm pool policy", () => {
    expect(claimBody('v1alpha1', 'c', { pool: 'p' }, 'tpl-of-p')).toEqual({
      apiVersion: 'extensions.agents.x-k8s.io/v1alpha1',
      kind: 'SandboxClaim',
      metadata: { name: 'c' },
      spec: { sandboxTemplateRef: { name: 'tpl-of-p' }, warmpool: 'p' },
    });
    expect(claimBody('v1alpha1', 'c', { template: 't' }, undefined).spec).toEqual({
      sandboxTemplateRef: { name: 't' },
    });
  });
});

const claim = (
  ready?: { status: string; reason?: string; message?: string },
  sandbox?: string,
): ClaimObject => ({
  metadata: { name: 'c' },
  status: {
    ...(ready ? { conditions: [{ type: 'Ready', ...ready }] } : {}),
    ...(sandbox ? { sandbox: { name: sandbox } } : {}),
  },
});

describe('claimOutcome', () => {
  test('Ready only with the Sandbox named; pending reasons wait', () => {
    expect(claimOutcome(claim({ status: 'True' }, 'sb'))).toBe(true);
    expect(claimOutcome(claim({ status: 'True' }))).toBe(false);
    expect(claimOutcome(claim())).toBe(false);
    expect(claimOutcome(claim({ status: 'False', reason: 'SandboxNotReady' }))).toBe(false);
    expect(claimOutcome(claim({ status: 'False', reason: 'TemplateRejected' }))).toBe(false);
  });

  test('terminal reasons are typed errors with the message', () => {
    expect(() =>
      claimOutcome(claim({ status: 'False', reason: 'TemplateNotFound', message: 'no t' })),
    ).toThrow(new TemplateNotFound('c', 'no t'));
    expect(() => claimOutcome(claim({ status: 'False', reason: 'WarmPoolNotFound' }))).toThrow(
      WarmPoolNotFound,
    );
    const failed = (() => {
      try {
        claimOutcome(claim({ status: 'False', reason: 'PodFailed', message: 'oom' }));
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(failed).toBeInstanceOf(ClaimFailed);
    expect(failed).toMatchObject({
      claim: 'c',
      reason: 'PodFailed',
      detail: 'oom',
      code: 'claim_failed',
      retryable: false,
    });
  });
});

test('claimState reads either version', () => {
  expect(
    claimState('ns', { ...claim({ status: 'True' }, 'sb'), spec: { warmPoolRef: { name: 'p' } } }),
  ).toMatchObject({
    name: 'c',
    namespace: 'ns',
    state: 'Ready',
    sandboxName: 'sb',
    pool: 'p',
  });
  expect(
    claimState('ns', {
      ...claim({ status: 'False', reason: 'ClaimExpired' }),
      spec: { sandboxTemplateRef: { name: 't' } },
    }),
  ).toMatchObject({ state: 'Failed', reason: 'ClaimExpired', template: 't', pool: undefined });
  expect(claimState('ns', { metadata: { name: 'd', deletionTimestamp: '2026-01-01T00:00:00Z' } }).state).toBe(
    'Deleting',
  );
  expect(claimState('ns', claim({ status: 'False', reason: 'Pending' })).state).toBe('Pending');
});
