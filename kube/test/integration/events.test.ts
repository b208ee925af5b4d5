// EventRecorder on the real API server: an event per problem, repeats folded into its series.
import { jest } from '@jest/globals';
import { ObjectMeta, type Stored } from '@sandbank/api';
import { integrationKubeConfig } from '@sandbank/e2e';
import { EventLog } from '@sandbank/testing';
import { z } from 'zod';
import { createKubeClient } from '../../src/client.js';
import { createEventRecorder } from '../../src/events.js';
import { createInformer } from '../../src/informer.js';
import { CONFIG_MAPS, EVENTS } from '../../src/resources.js';
import { createTransport } from '../../src/transport.js';
import type { Logger } from '../../src/logger.js';
import type { InformerEvent, KubeObject } from '../../src/types.js';
import { captureLogs, createNamespace, deleteNamespace } from './support.js';

// The integration project's testTimeout is not applied per project by jest; set it here.
jest.setTimeout(60_000);

const Event = z.looseObject({
  metadata: ObjectMeta,
  reason: z.string(),
  note: z.string().optional(),
  type: z.string(),
  reportingController: z.string(),
  regarding: z.looseObject({ name: z.string(), uid: z.string().optional() }),
  series: z.looseObject({ count: z.number() }).optional(),
});

const kc = integrationKubeConfig();
const transport = createTransport(kc);
const client = createKubeClient(kc, { transport });
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(client, 'events');
});

afterAll(async () => {
  await deleteNamespace(client, ns);
  transport.close();
});

describe('EventRecorder', () => {
  it('creates events.k8s.io Events and folds repeats into a series', async () => {
    const { log } = captureLogs();
    const regarding = await client.create<KubeObject>(CONFIG_MAPS, ns, { metadata: { name: 'subject' } });
    const informer = createInformer(kc, { type: EVENTS, schema: Event, namespace: ns, log, transport });
    const events = new EventLog(informer);
    await informer.start();
    try {
      await recordAndCheck(regarding, events, log);
    } finally {
      informer.stop();
    }
  });
});

async function recordAndCheck(
  regarding: Stored<KubeObject>,
  events: EventLog<InformerEvent<Stored<z.infer<typeof Event>>>>,
  log: Logger,
): Promise<void> {
  const recorder = createEventRecorder({
    client,
    controller: 'agents.x-k8s.io/sandbank-controller',
    instance: 'test',
    log,
  });
  recorder.event(regarding, 'Warning', 'TemplateNotFound', 'template "t" does not exist');
  const created = await events.waitFor((e) => e.type === 'add', { what: 'the event' });
  expect(created.obj).toMatchObject({
    reason: 'TemplateNotFound',
    type: 'Warning',
    note: 'template "t" does not exist',
    reportingController: 'agents.x-k8s.io/sandbank-controller',
    regarding: { name: 'subject', uid: regarding.metadata.uid },
  });

  recorder.event(regarding, 'Warning', 'TemplateNotFound', 'template "t" does not exist');
  const repeated = await events.waitFor((e) => e.type === 'update' && (e.obj.series?.count ?? 0) === 2, {
    what: 'series count 2',
  });
  expect(repeated.obj.metadata.name).toBe(created.obj.metadata.name);
  expect(events.events.filter((e) => e.type === 'add')).toHaveLength(1);

  recorder.event(regarding, 'Normal', 'Bound', 'bound to pod p');
  await events.waitFor((e) => e.type === 'add' && e.obj.reason === 'Bound', { what: 'a second event' });
}
