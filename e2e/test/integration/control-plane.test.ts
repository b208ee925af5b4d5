// The control plane of the global setup is a real one: the apiserver answers, the scheduler
// places pods on the kwok node, kwok runs them, and the controller-manager's garbage collector
// deletes dependents.
import { CoreV1Api, VersionApi } from '@kubernetes/client-node';
import type { V1ConfigMap, V1Namespace, V1Pod } from '@kubernetes/client-node';
import { integrationKubeConfig } from '../../src/kube.js';
import { waitFor } from '@sandbank/testing';

const kc = integrationKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const namespace = `sandbank-cp-${Date.now().toString(36)}`;
// Deleting a namespace takes about 5 s (the namespace controller's second pass).
const timeoutMs = 60_000;

const condition = (pod: V1Pod | undefined, type: string): string | undefined =>
  pod?.status?.conditions?.find((c) => c.type === type)?.status;

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
  // The namespace controller empties it (kwok finishes the pod's deletion), then it is gone.
  await waitFor<V1Namespace>(kc, '/api/v1/namespaces', namespace, (ns) => ns === undefined, {
    timeoutMs: 60_000,
    description: `namespace ${namespace} deleted`,
  });
}, timeoutMs);

test('the apiserver answers with the pinned version', async () => {
  const version = await kc.makeApiClient(VersionApi).getCode();
  expect(version.gitVersion).toBe('v1.34.4');
});

test('a namespace can be created and becomes Active', async () => {
  const ns = await waitFor<V1Namespace>(
    kc,
    '/api/v1/namespaces',
    namespace,
    (n) => n?.status?.phase === 'Active',
  );
  expect(ns?.metadata?.name).toBe(namespace);
});

test('a pod is scheduled to kwok-node-0 and becomes Running and Ready with an IP', async () => {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'fake' },
      // kwok never pulls or runs the image.
      spec: { containers: [{ name: 'main', image: 'example.invalid/never-pulled:1' }] },
    },
  });
  const pod = await waitFor<V1Pod>(
    kc,
    `/api/v1/namespaces/${namespace}/pods`,
    'fake',
    (p) => p?.status?.phase === 'Running' && condition(p, 'Ready') === 'True' && !!p.status.podIP,
    { description: 'pod fake Running and Ready' },
  );
  expect(pod?.spec?.nodeName).toBe('kwok-node-0');
  expect(pod?.status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  expect(condition(pod, 'PodScheduled')).toBe('True');

  // kwok completes the deletion (no kubelet); without a grace period the namespace goes faster.
  await core.deleteNamespacedPod({ namespace, name: 'fake', gracePeriodSeconds: 0 });
  await waitFor<V1Pod>(kc, `/api/v1/namespaces/${namespace}/pods`, 'fake', (p) => p === undefined, {
    description: 'pod fake deleted',
  });
});

test('the garbage collector deletes a dependent after its owner', async () => {
  const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
  const uid = owner.metadata?.uid;
  if (!uid) throw new Error('the created ConfigMap has no uid');
  await core.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: {
        name: 'dependent',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid }],
      },
      data: { k: 'v' },
    },
  });

  await core.deleteNamespacedConfigMap({ namespace, name: 'owner' });

  const dependent = await waitFor<V1ConfigMap>(
    kc,
    `/api/v1/namespaces/${namespace}/configmaps`,
    'dependent',
    (cm) => cm === undefined,
    { description: 'ConfigMap dependent garbage-collected' },
  );
  expect(dependent).toBeUndefined();
});
