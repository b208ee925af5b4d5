import { controllerRef, SandboxClaim, storedSchema } from '../../src/index.js';

const body = {
  apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
  kind: 'SandboxClaim',
  metadata: { name: 'c1', namespace: 'default' },
  spec: { warmPoolRef: { name: 'python' } },
};

describe('controllerRef', () => {
  it('names a stored owner by its name and uid', () => {
    const stored = storedSchema(SandboxClaim, true).parse({
      ...body,
      metadata: { ...body.metadata, uid: 'c1-uid', resourceVersion: '7' },
    });
    expect(controllerRef(stored)).toEqual({
      apiVersion: body.apiVersion,
      kind: 'SandboxClaim',
      name: 'c1',
      uid: 'c1-uid',
      controller: true,
      blockOwnerDeletion: true,
    });
  });

  it('cannot emit an owner reference without a uid', () => {
    const unstored = SandboxClaim.parse(body);
    // @ts-expect-error an object that was not read from the API server has no uid to name
    expect(() => controllerRef(unstored)).toThrow(/no stored name and uid/);
    expect(() => controllerRef({ ...body, metadata: { name: 'c1', uid: '' } })).toThrow(
      /no stored name and uid/,
    );
  });
});
