/**
 * Background processes through the router (`…/sandboxes/{name}/processes`) against a real agent
 * on loopback: start, list, get, attach from an offset, stdin, signal, resize, wait, remove; ids
 * checked before the agent is dialled; an attach cut by a router restart resumed through another
 * router from the client's offset with nothing lost; the ProcessService over the gRPC passthrough.
 */
import { credentials, status } from '@grpc/grpc-js';
import { createAgentClient, createAgentPromiseClient, ProcessState } from '@sandbank/proto';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { outputOf, readAttach } from '../helpers/process-frames.js';
import type { AttachFrame } from '../helpers/process-frames.js';
import { sandboxMetadata } from '../helpers/routed-agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';
import { openExec } from '../helpers/ws.js';

/** Processes on a busy 2-core machine: generous, but a hang still fails. */
const TIMEOUT_MS = 60_000;
const AGENT_IP = '127.0.0.66';
/** A sandbox whose pod has no agent listening: reaching it is a 502, never a 400. */
const GHOST_IP = '127.0.0.67';

let agent: TestAgent;
let routerA: TestRouter;
let routerB: TestRouter;

const sandboxes = () =>
  staticLookup([
    { namespace: 'default', name: 'sb', ip: AGENT_IP, annotation: agent.annotation },
    { namespace: 'default', name: 'ghost', ip: GHOST_IP },
  ]);

beforeAll(async () => {
  agent = await startAgent({ ip: AGENT_IP, grpcPort: 0, credential: { namespace: 'default' } });
  const ports = { grpcPort: agent.grpcPort, legacyPort: agent.restPort };
  // A short grace, so closing router A cuts its open attach (as a restart does).
  routerA = await startRouter({ lookup: sandboxes(), agentPorts: ports, limits: { shutdownGraceMs: 100 } });
  routerB = await startRouter({ lookup: sandboxes(), agentPorts: ports });
}, TIMEOUT_MS);

afterAll(async () => {
  await routerA?.close();
  await routerB?.close();
  await agent?.close();
}, TIMEOUT_MS);

const base = (r: TestRouter, name = 'sb') => `${r.url}/v1/namespaces/default/sandboxes/${name}/processes`;

async function call(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> | undefined; code: string | null }> {
  const res = await fetch(url, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  return {
    status: res.status,
    json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
    code: res.headers.get('x-sandbank-error-code'),
  };
}

/** Polls `done` (a condition on output already collected) until it holds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function startProcess(r: TestRouter, body: Record<string, unknown>): Promise<string> {
  const started = await call('POST', base(r), body);
  expect(started.status).toBe(201);
  return String(started.json?.['id']);
}

async function waitExited(r: TestRouter, id: string): Promise<Record<string, unknown>> {
  for (;;) {
    const waited = await call('POST', `${base(r)}/${id}/wait`, { timeoutMs: 10_000 });
    expect(waited.status).toBe(200);
    if (waited.json?.['state'] === 'exited') return waited.json;
  }
}

test(
  'start, list, get, attach from offset 0 and from a later offset, wait, remove',
  async () => {
    const id = await startProcess(routerA, { shell: 'printf hello; printf oops >&2; printf world' });
    expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
    const exited = await waitExited(routerA, id);
    expect(exited).toMatchObject({ id, state: 'exited', firstOffset: 0, endOffset: 14, stdinOpen: false });
    expect(exited['exit']).toMatchObject({ exitCode: 0, signal: '', timedOut: false });
    expect(typeof exited['startedAt']).toBe('string');

    const listed = await call('GET', base(routerB));
    expect(listed.status).toBe(200);
    const ids = (listed.json?.['processes'] as { id: string }[]).map((p) => p.id);
    expect(ids).toContain(id);
    const got = await call('GET', `${base(routerB)}/${id}`);
    expect(got.json).toMatchObject({
      id,
      state: 'exited',
      command: '/bin/sh -c printf hello; printf oops >&2; printf world',
    });

    const all = await readAttach(`${base(routerB)}/${id}/attach?follow=true`);
    expect(all.status).toBe(200);
    expect(all.contentType).toBe('application/vnd.sandbank.process-output');
    expect(all.error).toBeUndefined();
    expect(all.frames[0]?.kind).toBe(0);
    expect(JSON.parse(all.frames[0]?.payload.toString('utf8') ?? '')).toMatchObject({
      startOffset: 0,
      bytesDropped: false,
      process: { id },
    });
    // The two pipes interleave as the agent read them; each stream keeps its own order.
    expect(outputOf(all.frames.filter((f) => f.kind === 1))).toBe('helloworld');
    expect(outputOf(all.frames.filter((f) => f.kind === 2))).toBe('oops');
    const chunks = all.frames.filter((f) => f.kind === 1 || f.kind === 2);
    chunks.forEach((f, i) => {
      const prev = chunks[i - 1];
      expect(f.offset).toBe(prev === undefined ? 0 : prev.offset + prev.payload.length);
    });
    const last = all.frames.at(-1);
    expect(last?.kind).toBe(3);
    expect(last?.offset).toBe(14);
    expect(JSON.parse(last?.payload.toString('utf8') ?? '')).toMatchObject({ exitCode: 0 });

    const later = await readAttach(`${base(routerA)}/${id}/attach?fromOffset=9`);
    expect(later.frames[0]?.offset).toBe(9);
    expect(outputOf(later.frames)).toBe(outputOf(all.frames).slice(9));

    expect((await call('DELETE', `${base(routerA)}/${id}`)).status).toBe(204);
    const gone = await call('GET', `${base(routerA)}/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.code).toBe('not_found');
  },
  TIMEOUT_MS,
);

test(
  'stdin reaches the process, a signal ends it, and a running process cannot be removed',
  async () => {
    const id = await startProcess(routerA, { command: ['cat'], stdin: true });
    expect(
      (await call('POST', `${base(routerA)}/${id}/stdin`, { data: 'aGkK', encoding: 'base64' })).status,
    ).toBe(204);
    // cat echoes it: the output reaches 3 bytes before the process is signalled.
    for (;;) {
      const got = await call('GET', `${base(routerA)}/${id}`);
      if (Number(got.json?.['endOffset']) >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const busy = await call('DELETE', `${base(routerA)}/${id}`);
    expect(busy.status).toBe(409);
    expect(busy.code).toBe('failed_precondition');
    expect((await call('POST', `${base(routerA)}/${id}/signal`, { signal: 'SIGTERM' })).status).toBe(204);
    const exited = await waitExited(routerA, id);
    expect(exited['exit']).toMatchObject({ signal: 'SIGTERM' });
    const read = await readAttach(`${base(routerA)}/${id}/attach`);
    expect(outputOf(read.frames)).toBe('hi\n');
    const bad = await call('POST', `${base(routerA)}/${id}/signal`, { signal: 'SIGSTOP' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toContain('signal');
  },
  TIMEOUT_MS,
);

test(
  'a process on a terminal takes a resize (stty size sees it), or the agent says it has no tty for it',
  async () => {
    const started = await call('POST', base(routerA), {
      shell: 'stty size; read line; stty size',
      stdin: true,
      tty: { rows: 24, cols: 80 },
    });
    if (started.status === 501) {
      // An agent without terminals for background processes refuses the tty; the router relays
      // that as it is rather than starting the process without one.
      expect(started.code).toBe('unimplemented');
      expect(JSON.stringify(started.json)).toContain('tty');
    } else {
      expect(started.status).toBe(201);
      const id = String(started.json?.['id']);
      expect((await call('POST', `${base(routerA)}/${id}/resize`, { rows: 30, cols: 100 })).status).toBe(204);
      expect((await call('POST', `${base(routerA)}/${id}/stdin`, { data: 'go\n' })).status).toBe(204);
      await waitExited(routerA, id);
      const out = outputOf((await readAttach(`${base(routerA)}/${id}/attach`)).frames);
      expect(out).toContain('24 80');
      expect(out).toContain('30 100');
    }
    const badSize = await call('POST', `${base(routerA)}/p-1/resize`, { rows: 0, cols: 100 });
    expect(badSize.status).toBe(400);
    expect(JSON.stringify(badSize.json)).toContain('rows');
    const badTty = await call('POST', base(routerA), { shell: 'true', tty: { rows: 24 } });
    expect(badTty.status).toBe(400);
    expect(JSON.stringify(badTty.json)).toContain('tty.cols');
  },
  TIMEOUT_MS,
);

test(
  'WebSocket exec on a terminal: the start frame sizes it, a resize frame changes it',
  async () => {
    const s = await openExec(`${routerA.wsUrl}/v1/namespaces/default/sandboxes/sb/exec`);
    s.ws.send(
      JSON.stringify({
        type: 'start',
        shell: 'stty size; read line; stty size',
        stdin: true,
        tty: { rows: 24, cols: 80 },
      }),
    );
    await s.waitForText((f) => f['type'] === 'started');
    // The first size is printed before the resize is sent: the line after it waits for input.
    await until(() => s.stdout().includes('24 80'));
    s.ws.send(JSON.stringify({ type: 'resize', rows: 30, cols: 100 }));
    s.ws.send(Buffer.from('go\r'), { binary: true });
    const exit = await s.waitForText((f) => f['type'] === 'exit');
    expect(exit['exitCode']).toBe(0);
    expect(s.stdout()).toContain('30 100');
    expect((await s.closed).code).toBe(1000);
  },
  TIMEOUT_MS,
);

test.each([
  [{ rows: 24 }, 'tty.cols'],
  [{ rows: 24, cols: 0 }, 'tty.cols'],
  [{ rows: 24.5, cols: 80 }, 'tty.rows'],
  [{ rows: 24, cols: 80, depth: 8 }, 'tty'],
])(
  'WebSocket exec refuses the terminal size %j naming the field',
  async (tty, field) => {
    const s = await openExec(`${routerA.wsUrl}/v1/namespaces/default/sandboxes/sb/exec`);
    s.ws.send(JSON.stringify({ type: 'start', shell: 'true', tty }));
    const closed = await s.closed;
    expect(closed.code).toBe(4400);
    expect(closed.reason).toContain(field);
  },
  TIMEOUT_MS,
);

test.each([
  ['a leading dot', '.x'],
  ['a space', 'a%20b'],
  ['a NUL', 'a%00b'],
  ['65 characters', 'a'.repeat(65)],
  ['a slash', 'a%2Fb'],
])(
  'a process id with %s is refused before the agent is dialled',
  async (_what, id) => {
    for (const [method, suffix] of [
      ['GET', ''],
      ['DELETE', ''],
      ['GET', '/attach'],
      ['POST', '/wait'],
      ['POST', '/signal'],
    ] as const) {
      const res = await call(
        method,
        `${base(routerA, 'ghost')}/${id}${suffix}`,
        method === 'POST' ? {} : undefined,
      );
      expect({ method, suffix, status: res.status, code: res.code }).toEqual({
        method,
        suffix,
        status: 400,
        code: 'invalid_argument',
      });
      expect(JSON.stringify(res.json)).toContain('id:');
    }
    // The same call with a valid id does dial (and fails there): the 400 came before the dial.
    const dialled = await call('GET', `${base(routerA, 'ghost')}/p-1`);
    expect(dialled.status).toBe(502);
  },
  TIMEOUT_MS,
);

test.each([
  ['fromOffset=-1', 'fromOffset'],
  ['fromOffset=1e3', 'fromOffset'],
  ['fromOffset=99999999999999999', 'fromOffset'],
  ['fromOffset=9007199254740992', 'fromOffset'],
  ['follow=yes', 'follow'],
])(
  'an attach query %s is refused naming the field, before the agent is dialled',
  async (query, field) => {
    const res = await call('GET', `${base(routerA, 'ghost')}/p-1/attach?${query}`);
    expect(res.status).toBe(400);
    expect(res.code).toBe('invalid_argument');
    expect(JSON.stringify(res.json)).toContain(field);
  },
  TIMEOUT_MS,
);

test(
  'an attach cut by a router restart resumes through another router from the last offset, losing nothing',
  async () => {
    const lines = Array.from({ length: 40 }, (_, i) => `line-${i + 1}\n`).join('');
    // The second half waits for a line on stdin, so the process cannot have ended (and the
    // first attach cannot have seen exit) before router A goes away, however slow the machine.
    const id = await startProcess(routerA, {
      shell:
        'i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo line-$i; done; read go; ' +
        'while [ $i -lt 40 ]; do i=$((i+1)); echo line-$i; sleep 0.01; done',
      stdin: true,
    });
    let closing: Promise<void> | undefined;
    const first = await readAttach(`${base(routerA)}/${id}/attach?follow=true`, (_f, all) => {
      // Once the first half is in, router A goes away mid-stream.
      if (closing === undefined && outputOf(all).includes('line-20\n')) closing = routerA.close();
    });
    await closing;
    expect(closing).toBeDefined();
    expect(first.error).toBeDefined();
    expect(first.frames.some((f) => f.kind === 3)).toBe(false);
    const out = first.frames.filter((f) => f.kind === 1);
    const lastChunk = out.at(-1) as AttachFrame;
    const resumeAt = lastChunk.offset + lastChunk.payload.length;
    expect((await call('POST', `${base(routerB)}/${id}/stdin`, { data: 'go\n', close: true })).status).toBe(
      204,
    );

    const second = await readAttach(`${base(routerB)}/${id}/attach?follow=true&fromOffset=${resumeAt}`);
    expect(second.error).toBeUndefined();
    expect(JSON.parse(second.frames[0]?.payload.toString('utf8') ?? '')).toMatchObject({
      startOffset: resumeAt,
      bytesDropped: false,
    });
    const firstOutput = second.frames.find((f) => f.kind === 1);
    expect(firstOutput?.offset).toBe(resumeAt);
    expect(second.frames.at(-1)?.kind).toBe(3);
    expect(outputOf(first.frames) + outputOf(second.frames)).toBe(lines);
  },
  TIMEOUT_MS,
);

test(
  'the gRPC passthrough relays ProcessService',
  async () => {
    const client = createAgentClient(routerB.grpcAddress, credentials.createInsecure());
    try {
      const viaRouter = createAgentPromiseClient(client);
      const started = await viaRouter.startProcess(
        { process: { command: { case: 'shell', value: 'echo relayed' } } },
        { metadata: sandboxMetadata() },
      );
      const id = started.process?.id ?? '';
      const waited = await viaRouter.waitProcess({ id, timeoutMs: 20_000 }, { metadata: sandboxMetadata() });
      expect(waited.process?.state).toBe(ProcessState.EXITED);
      const chunks: Uint8Array[] = [];
      for await (const r of viaRouter.attachProcess({ id, follow: true }, { metadata: sandboxMetadata() })) {
        if (r.event.case === 'output') chunks.push(r.event.value.data);
      }
      expect(Buffer.concat(chunks).toString('utf8')).toBe('relayed\n');
    } finally {
      client.close();
    }
  },
  TIMEOUT_MS,
);

test(
  'the gRPC passthrough refuses a ProcessService id of the wrong form before the agent is dialled',
  async () => {
    const client = createAgentClient(routerB.grpcAddress, credentials.createInsecure());
    try {
      const viaRouter = createAgentPromiseClient(client);
      const ghost = { metadata: sandboxMetadata('ghost') };
      for (const call of [
        () => viaRouter.getProcess({ id: '../p' }, ghost),
        () => viaRouter.removeProcess({ id: 'a'.repeat(65) }, ghost),
        () => viaRouter.waitProcess({ id: '' }, ghost),
        async () => {
          await viaRouter.attachProcess({ id: 'a b' }, ghost)[Symbol.asyncIterator]().next();
        },
      ]) {
        await expect(call()).rejects.toMatchObject({
          code: status.INVALID_ARGUMENT,
          details: expect.stringContaining('id:') as unknown,
        });
      }
      // A valid id is dialled (and fails there): the refusals came before the dial.
      await expect(viaRouter.getProcess({ id: 'p-1' }, ghost)).rejects.toMatchObject({
        code: status.UNAVAILABLE,
      });
    } finally {
      client.close();
    }
  },
  TIMEOUT_MS,
);
