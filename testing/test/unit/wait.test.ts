import { collectionAt } from '../../src/wait.js';

describe('collectionAt', () => {
  it.each([
    ['/api/v1/namespaces/ns/pods', { group: '', version: 'v1', plural: 'pods', namespaced: true }, 'ns'],
    ['/api/v1/namespaces', { group: '', version: 'v1', plural: 'namespaces', namespaced: false }, undefined],
    [
      '/apis/extensions.agents.x-k8s.io/v1alpha1/namespaces/ns/sandboxclaims',
      { group: 'extensions.agents.x-k8s.io', version: 'v1alpha1', plural: 'sandboxclaims', namespaced: true },
      'ns',
    ],
    [
      '/apis/agents.x-k8s.io/v1alpha1/sandboxes',
      { group: 'agents.x-k8s.io', version: 'v1alpha1', plural: 'sandboxes', namespaced: false },
      undefined,
    ],
  ])('reads %s', (path, collection, namespace) => {
    expect(collectionAt(path)).toEqual({ collection, namespace });
  });

  it.each(['/api/v1/namespaces/ns/pods/p', '/apis/g/pods', 'api/v1/pods', '/api/v1/pods?watch=true'])(
    'rejects %s, which names no collection',
    (path) => {
      expect(() => collectionAt(path)).toThrow(/not a collection path/);
    },
  );
});
