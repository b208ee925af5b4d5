import { deepFreeze } from '../../src/informer.js';
import {
  EVENTS,
  LEASES,
  PODS,
  SANDBOXES,
  SANDBOX_CLAIMS,
  apiVersionOf,
  resourcePath,
} from '../../src/resources.js';
import { microTime } from '../../src/time.js';

describe('resourcePath', () => {
  it.each([
    [PODS, 'ns', undefined, undefined, '/api/v1/namespaces/ns/pods'],
    [PODS, undefined, undefined, undefined, '/api/v1/pods'],
    [PODS, '', undefined, undefined, '/api/v1/pods'],
    [PODS, 'ns', 'p', undefined, '/api/v1/namespaces/ns/pods/p'],
    [
      SANDBOX_CLAIMS,
      'ns',
      'c',
      'status',
      '/apis/extensions.agents.x-k8s.io/v1beta1/namespaces/ns/sandboxclaims/c/status',
    ],
    [SANDBOXES, 'ns', undefined, undefined, '/apis/agents.x-k8s.io/v1beta1/namespaces/ns/sandboxes'],
    [LEASES, 'kube-system', 'l', undefined, '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l'],
  ] as const)('%#', (type, ns, name, sub, path) => {
    expect(resourcePath(type, ns, name, sub)).toBe(path);
  });

  it('spells apiVersion per group', () => {
    expect(apiVersionOf(PODS)).toBe('v1');
    expect(apiVersionOf(EVENTS)).toBe('events.k8s.io/v1');
  });
});

describe('microTime', () => {
  it('has microseconds', () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.678000Z');
  });
});

describe('deepFreeze', () => {
  it('freezes nested objects and arrays', () => {
    const o = deepFreeze({ a: { b: [1, { c: 2 }] } });
    expect(Object.isFrozen(o.a.b)).toBe(true);
    expect(Object.isFrozen(o.a.b[1])).toBe(true);
  });
});
