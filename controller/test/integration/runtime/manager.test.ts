// The manager wires informer → queue → reconcile under a real Lease: ready after sync, reconciles
// only while leading, and on stop drains, releases the lease and stops the informers.
import { jest } from '@jest/globals';
import { ObjectMeta, keyOf, parseKey } from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import { z } from 'zod';
import { CONFIG_MAPS, LEASES, createInformer, createKubeClient, createTransport } from '@sandbank/kube';
import type { KubeObject } from '@sandbank/kube';
import { EventLog } from '@sandbank/testing';
import { captureLogs, createNamespace, deleteNamespace } from '../support.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createController } from '../../../src/runtime/controller.js';
import { createManager } from '../../../src/runtime/manager.js';
import { done } from '../../../src/runtime/result.js';

// The integration project's testTimeout is not applied per project by jest; set it here.
jest.setTimeout(60_000);

const ConfigMap = z.looseObject({ metadata: ObjectMeta, data: z.record(z.string(), z.string()).optional() });
type ConfigMap = z.infer<typeof ConfigMap>;

interface Lease extends KubeObject {
  spec?: { holderIdentity?: string };
}

const kc = integrationKubeConfig();
const transport = createTransport(kc);
const client = createKubeClient(kc, { transport });
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(client, 'manager');
});

afterAll(async () => {
  await deleteNamespace(client, ns);
  transport.close();
});

describe('manager', () => {
  it('syncs, leads, reconciles informer events, and releases the lease on stop', async () => {
    await client.create<ConfigMap>(CONFIG_MAPS, ns, { metadata: { name: 'pre-existing' }, data: {} });
    const { log } = captureLogs();
    const metrics = createMetrics({ defaultMetrics: false });
    const informer = createInformer(kc, {
      type: CONFIG_MAPS,
      schema: ConfigMap,
      namespace: ns,
      log,
      transport,
    });
    const observed = new EventLog(informer);

    // A toy reconciler: stamp each ConfigMap with `reconciled: "yes"`.
    const controller = createController({
      name: 'stamper',
      workers: 2,
      log,
      metrics,
      reconcile: async (key) => {
        const { namespace, name } = parseKey(key);
        const cm = informer.get(namespace, name);
        if (cm === undefined || name === 'kube-root-ca.crt' || cm.data?.['reconciled'] === 'yes') return done;
        await client.mergePatch(CONFIG_MAPS, namespace, name, { data: { reconciled: 'yes' } });
        return done;
      },
    });
    informer.onEvent((e) => controller.enqueue(keyOf(e.obj)));

    const manager = createManager({
      informers: { configmaps: informer },
      controllers: [controller],
      log,
      leaderElection: {
        client,
        namespace: ns,
        name: 'manager-test',
        identity: 'only-replica',
        leaseDurationMs: 3_000,
        renewDeadlineMs: 2_000,
        retryPeriodMs: 200,
      },
    });
    expect(manager.readyz()).toEqual({ ready: false, reason: 'caches not synced: configmaps' });
    await manager.start();
    expect(manager.readyz()).toEqual({ ready: true });
    expect(manager.healthz()).toBe(true);

    const stamped = (name: string) => (e: { obj: ConfigMap }) =>
      e.obj.metadata.name === name && e.obj.data?.['reconciled'] === 'yes';
    await observed.waitFor(stamped('pre-existing'), { what: 'pre-existing stamped' });
    expect(manager.isLeader()).toBe(true);

    await client.create<ConfigMap>(CONFIG_MAPS, ns, { metadata: { name: 'new' }, data: {} });
    await observed.waitFor(stamped('new'), { what: 'new stamped' });
    expect(await metrics.registry.metrics()).toMatch(
      /sandbank_reconcile_total\{controller="stamper",result="success"\} \d+/,
    );

    await manager.stop();
    expect(await manager.done).toBe('stopped');
    expect((await client.get<Lease>(LEASES, ns, 'manager-test'))?.spec?.holderIdentity ?? '').toBe('');
    expect(manager.isLeader()).toBe(false);
  });

  it('stops waiting for caches when stopped before they sync', async () => {
    const unreachable = integrationKubeConfig();
    const cluster = unreachable.getCurrentCluster();
    if (!cluster) throw new Error('no cluster');
    unreachable.clusters = [{ ...cluster, server: 'https://127.0.0.1:1' }];
    const { log } = captureLogs();
    const informer = createInformer(unreachable, {
      type: CONFIG_MAPS,
      schema: ConfigMap,
      namespace: ns,
      log,
    });
    const manager = createManager({ informers: { configmaps: informer }, controllers: [], log });
    const starting = manager.start();
    expect(manager.readyz().ready).toBe(false);
    await manager.stop();
    await starting;
    expect(await manager.done).toBe('stopped');
  });
});
