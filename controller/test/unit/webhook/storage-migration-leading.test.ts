// migrateWhenLeading: nothing before this replica leads, one run once it does, a failed run
// retried, and a forbidden one reported once and not retried — decided on the API server's
// answer (kept as the error's cause), never on words in a message.
import type { KubeClient } from '@sandbank/kube';
import { KubeError } from '@sandbank/kube';
import { createLogger } from '../../../src/observability/logger.js';
import { migrateStoredVersions, migrateWhenLeading } from '../../../src/storage-migration.js';

const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'things.example.com', uid: 'u', resourceVersion: '1' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'things', kind: 'Thing' },
    versions: [{ name: 'v1', served: true, storage: true }],
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

/** A CRD stored in two versions whose objects must be rewritten (it has a status subresource). */
const STALE_CRD = {
  ...CRD,
  spec: {
    ...CRD.spec,
    versions: [
      { name: 'v1alpha1', served: true, storage: false, subresources: { status: {} } },
      { name: 'v1', served: true, storage: true, subresources: { status: {} } },
    ],
  },
  status: { storedVersions: ['v1alpha1', 'v1'] },
};

/**
 * A client that serves STALE_CRD and lists one object named `objectName`, whose rewrite
 * (a status patch) fails with `failure` the first time and succeeds after; `reads` resolve in turn.
 */
function migratingClient(objectName: string, failure: KubeError) {
  let reads = 0;
  let rewrites = 0;
  const resolvers: (() => void)[] = [];
  const read = [0, 1].map(() => new Promise<void>((resolve) => resolvers.push(resolve)));
  const client = {
    get: () => {
      resolvers[reads++]?.();
      return Promise.resolve(STALE_CRD);
    },
    list: () => Promise.resolve({ items: [{ metadata: { name: objectName, namespace: 'team-a' } }] }),
    patchStatus: (type: { plural: string }) => {
      if (type.plural === 'customresourcedefinitions') return Promise.resolve({});
      return rewrites++ === 0 ? Promise.reject(failure) : Promise.resolve({});
    },
  } as unknown as KubeClient;
  return { client, read };
}

/** A logger whose error lines are handed to the caller as they come. */
function errorLines(): { log: ReturnType<typeof createLogger>; next: () => Promise<{ msg: string }> } {
  const waiting: ((line: { msg: string }) => void)[] = [];
  const queued: { msg: string }[] = [];
  const log = createLogger({
    level: 'error',
    destination: {
      write(line: string) {
        const parsed = JSON.parse(line) as { msg: string };
        const waiter = waiting.shift();
        if (waiter === undefined) queued.push(parsed);
        else waiter(parsed);
      },
    },
  });
  const next = () =>
    new Promise<{ msg: string }>((resolve) => {
      const line = queued.shift();
      if (line === undefined) waiting.push(resolve);
      else resolve(line);
    });
  return { log, next };
}

describe('a failed rewrite', () => {
  it('keeps the API error as its cause', async () => {
    const refused = new KubeError('Forbidden', 403, 'patch things/x: HTTP 403');
    const { client } = migratingClient('x', refused);
    await expect(migrateStoredVersions(client, [CRD.metadata.name])).rejects.toMatchObject({
      message: expect.stringContaining('team-a/x') as unknown,
      cause: refused,
    });
  });

  it('refused with 403 is reported as forbidden and not retried', async () => {
    const { client } = migratingClient('x', new KubeError('Forbidden', 403, 'patch things/x: HTTP 403'));
    const { log, next } = errorLines();
    const stop = migrateWhenLeading({
      client,
      crds: [CRD.metadata.name],
      isLeader: () => true,
      log,
      pollMs: 5,
    });
    try {
      expect((await next()).msg).toMatch(/^storage migration forbidden: /);
    } finally {
      stop();
    }
  });

  it('unavailable is retried, even for an object whose name says forbidden', async () => {
    const { client, read } = migratingClient(
      'forbidden-fruit',
      new KubeError('Unavailable', 503, 'patch things/forbidden-fruit: HTTP 503'),
    );
    const { log, next } = errorLines();
    const stop = migrateWhenLeading({
      client,
      crds: [CRD.metadata.name],
      isLeader: () => true,
      log,
      pollMs: 5,
    });
    try {
      expect((await next()).msg).toMatch(/^storage migration failed; retrying in /);
      await read[1];
    } finally {
      stop();
    }
  });
});
