// migrateWhenLeading: nothing before this replica leads, one run once it does, a failed run
// retried, and a forbidden one reported once and not retried.
import type { KubeClient } from '@sandbank/kube';
import { KubeError } from '@sandbank/kube';
import { createLogger } from '../../../src/observability/logger.js';
import { migrateWhenLeading } from '../../../src/storage-migration.js';

const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'things.example.com', uid: 'u', resourceVersion: '1' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'things', kind: 'Thing' },
    versions: [{ name: 'v1', storage: true }],
  },
  status: { storedVersions: ['v1'] },
};

/** A client whose CRD reads answer from `answers` in turn (the last one repeats), counted. */
function fakeClient(answers: (() => unknown)[]): {
  client: KubeClient;
  reads: () => number;
  next: Promise<void>[];
} {
  let reads = 0;
  const resolvers: (() => void)[] = [];
  const next = answers.map(() => new Promise<void>((resolve) => resolvers.push(resolve)));
  const client = {
    get: () => {
      const answer = answers[Math.min(reads, answers.length - 1)];
      resolvers[reads]?.();
      reads++;
      try {
        return Promise.resolve(answer?.());
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
  } as unknown as KubeClient;
  return { client, reads: () => reads, next };
}

const log = createLogger({ level: 'silent' });

describe('migrateWhenLeading', () => {
  it('waits for leadership, then checks once', async () => {
    let leader = false;
    const { client, reads, next } = fakeClient([() => CRD]);
    const stop = migrateWhenLeading({
      client,
      crds: [CRD.metadata.name],
      isLeader: () => leader,
      log,
      pollMs: 5,
    });
    try {
      await new Promise((r) => setTimeout(r, 50));
      expect(reads()).toBe(0);
      leader = true;
      await next[0];
      await new Promise((r) => setTimeout(r, 50));
      expect(reads()).toBe(1);
    } finally {
      stop();
    }
  });

  it('retries a failed run and gives up on a forbidden one', async () => {
    const unavailable = () => {
      throw new KubeError('Unavailable', 503, 'apiserver starting');
    };
    const { client, next } = fakeClient([unavailable, () => CRD]);
    const stop = migrateWhenLeading({
      client,
      crds: [CRD.metadata.name],
      isLeader: () => true,
      log,
      pollMs: 5,
    });
    try {
      await next[1];
    } finally {
      stop();
    }

    const forbidden = fakeClient([
      () => {
        throw new KubeError('Forbidden', 403, 'customresourcedefinitions is forbidden');
      },
    ]);
    const stopForbidden = migrateWhenLeading({
      client: forbidden.client,
      crds: [CRD.metadata.name],
      isLeader: () => true,
      log,
      pollMs: 5,
    });
    try {
      await forbidden.next[0];
      await new Promise((r) => setTimeout(r, 100));
      expect(forbidden.reads()).toBe(1);
    } finally {
      stopForbidden();
    }
  });
});
