/**
 * ProcessService against the real agent over loopback gRPC: a background process outlives the
 * client that started it and a new client reads its output from offset 0 and its exit; attach
 * from an offset, follow and non-follow; Signal kills the group; stdin; wait with a timeout;
 * remove; the limits as RESOURCE_EXHAUSTED; bad requests.
 */
import { jest } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { createAgentPromiseClient, OutputStream, ProcessState, Signal } from '@sandbank/proto';
import type { AgentPromiseClient, AttachProcessResponse, ExitStatus } from '@sandbank/proto';
import { alive, argv, eventually, failure, shell } from '../helpers/calls.js';
import { startTestAgent } from '../helpers/agent.js';
import { removeEveryProcess } from '../helpers/processes.js';
import type { TestAgent } from '../helpers/agent.js';

jest.setTimeout(30_000);

let agent: TestAgent;
let api: AgentPromiseClient;
beforeAll(async () => {
  agent = await startTestAgent({
    SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES: '3',
    SANDBANK_AGENT_MAX_RETAINED_PROCESSES: '5',
    SANDBANK_AGENT_PROCESS_BUFFER_BYTES: '4096',
    // Exec's default limit, short here: background processes must not inherit it.
    SANDBANK_AGENT_DEFAULT_TIMEOUT_MS: '100',
  });
  api = createAgentPromiseClient(agent.client);
});
afterAll(async () => agent.close());

afterEach(async () => removeEveryProcess(api));

interface Attach {
  readonly attached: Extract<AttachProcessResponse['event'], { case: 'attached' }>['value'] | undefined;
  readonly chunks: { offset: number; stream: OutputStream; text: string }[];
  readonly text: string;
  readonly exit: ExitStatus | undefined;
}

async function attach(
  client: AgentPromiseClient,
  id: string,
  fromOffset: number | bigint,
  follow: boolean,
): Promise<Attach> {
  let attached: Attach['attached'];
  let exit: ExitStatus | undefined;
  const chunks: Attach['chunks'] = [];
  for await (const frame of client.attachProcess({ id, fromOffset: BigInt(fromOffset), follow })) {
    const e = frame.event;
    if (e.case === 'attached') attached = e.value;
    if (e.case === 'output')
      chunks.push({
        offset: Number(e.value.offset),
        stream: e.value.stream,
        text: Buffer.from(e.value.data).toString(),
      });
    if (e.case === 'exit') exit = e.value;
  }
  return { attached, chunks, text: chunks.map((c) => c.text).join(''), exit };
}

const code = (error: unknown): status | undefined => (error as ServiceError).code;

describe('a process that outlives its caller', () => {
  it('keeps running when the starting client disconnects; a new client reads `done` from 0 and the exit', async () => {
    const first = agent.newClient();
    const started = await createAgentPromiseClient(first).startProcess({
      process: shell('sleep 1; echo done'),
    });
    const info = started.process;
    expect(info?.state).toBe(ProcessState.RUNNING);
    expect(info?.command).toBe('/bin/sh -c sleep 1; echo done');
    first.close(); // the caller is gone; nothing holds the process but the agent

    const second = createAgentPromiseClient(agent.newClient());
    const read = await attach(second, info?.id ?? '', 0, true);
    expect(read.attached?.startOffset).toBe(0n);
    expect(read.attached?.bytesDropped).toBe(false);
    expect(read.chunks).toEqual([{ offset: 0, stream: OutputStream.STDOUT, text: 'done\n' }]);
    expect(read.exit).toMatchObject({ exitCode: 0, signal: '', timedOut: false });

    const listed = (await second.listProcesses({})).processes.find((p) => p.id === info?.id);
    expect(listed).toMatchObject({
      state: ProcessState.EXITED,
      firstOffset: 0n,
      endOffset: 5n,
      stdinOpen: false,
    });
    expect(listed?.exit?.exitCode).toBe(0);
    expect(listed?.endedAt).toBeDefined();
  });

  it('keeps running when an attached reader goes away mid-stream', async () => {
    const { process: info } = await api.startProcess({
      process: shell('echo one; read x; echo two'),
      stdin: true,
    });
    const id = info?.id ?? '';
    const abort = new AbortController();
    const seen = (async () => {
      for await (const frame of api.attachProcess(
        { id, fromOffset: 0n, follow: true },
        { signal: abort.signal },
      )) {
        if (frame.event.case === 'output') return Buffer.from(frame.event.value.data).toString();
      }
      return '';
    })();
    expect(await seen).toBe('one\n');
    abort.abort();
    await api.writeProcessStdin({ id, data: Buffer.from('go\n') });
    const waited = await api.waitProcess({ id });
    expect(waited.process?.exit?.exitCode).toBe(0);
    expect((await attach(api, id, 0, false)).text).toBe('one\ntwo\n');
  });
});

describe('attach', () => {
  it('reads from any offset, tags streams, and without follow ends at what was retained', async () => {
    // Each write waits for a line on stdin, so the order across the two pipes is the test's.
    const { process: info } = await api.startProcess({
      process: shell('printf abc; read a; printf XY >&2; read b; printf def; read c'),
      stdin: true,
    });
    const id = info?.id ?? '';
    const endOffsetIs = (n: bigint) => async () =>
      (await api.getProcess({ id })).process?.endOffset === n ? true : undefined;
    await eventually(endOffsetIs(3n));
    await api.writeProcessStdin({ id, data: Buffer.from('\n') });
    await eventually(endOffsetIs(5n));
    await api.writeProcessStdin({ id, data: Buffer.from('\n') });
    await eventually(endOffsetIs(8n));
    const now = await attach(api, id, 0, false);
    expect(now.exit).toBeUndefined(); // still running: no exit, and the call ended anyway
    expect(now.text).toBe('abcXYdef');
    expect(now.chunks.map((c) => c.stream)).toEqual([
      OutputStream.STDOUT,
      OutputStream.STDERR,
      OutputStream.STDOUT,
    ]);
    const fromFour = await attach(api, id, 4, false);
    expect(fromFour.attached?.startOffset).toBe(4n);
    expect(fromFour.chunks[0]).toEqual({ offset: 4, stream: OutputStream.STDERR, text: 'Y' });
    const pastEnd = await attach(api, id, 1000, false);
    expect(pastEnd.attached?.startOffset).toBe(8n);
    expect(pastEnd.chunks).toEqual([]);
    await api.writeProcessStdin({ id, close: true });
    await api.waitProcess({ id });
  });

  it('starts at the first retained byte when asked for an evicted offset, and says so', async () => {
    // 10000 bytes through a 4096-byte ring.
    const { process: info } = await api.startProcess({
      process: shell('head -c 10000 /dev/zero | tr "\\0" a'),
    });
    const id = info?.id ?? '';
    await api.waitProcess({ id });
    const read = await attach(api, id, 0, true);
    expect(read.attached).toMatchObject({ startOffset: 10000n - 4096n, bytesDropped: true });
    expect(read.text).toBe('a'.repeat(4096));
    expect(read.chunks[0]?.offset).toBe(10000 - 4096);
    expect(read.exit?.exitCode).toBe(0);
  });

  it('a reader that does not read never holds the process; it sees the gap, then the exit', async () => {
    const { process: info } = await api.startProcess({ process: shell('head -c 2000000 /dev/zero') });
    const id = info?.id ?? '';
    const frames = api.attachProcess({ id, fromOffset: 0n, follow: true })[Symbol.asyncIterator]();
    const first = await frames.next(); // attached; then this reader stops reading for a while
    expect(first.done ? undefined : first.value.event.case).toBe('attached');
    const { process: done } = await api.waitProcess({ id });
    expect(done).toMatchObject({
      state: ProcessState.EXITED,
      endOffset: 2_000_000n,
      firstOffset: 2_000_000n - 4096n,
    });
    let expected = 0;
    let gaps = 0;
    let exit: ExitStatus | undefined;
    for (let next = await frames.next(); !next.done; next = await frames.next()) {
      const e = next.value.event;
      if (e.case === 'output') {
        const offset = Number(e.value.offset);
        expect(offset).toBeGreaterThanOrEqual(expected);
        if (offset > expected) gaps++;
        expected = offset + e.value.data.length;
      }
      if (e.case === 'exit') exit = e.value;
    }
    expect(gaps).toBeGreaterThan(0);
    expect(expected).toBe(2_000_000);
    expect(exit?.exitCode).toBe(0);
  });

  it('is NOT_FOUND for an unknown id and INVALID_ARGUMENT for none', async () => {
    expect(code(await failure(attach(api, 'no-such-process', 0, false)))).toBe(status.NOT_FOUND);
    expect(code(await failure(attach(api, '', 0, false)))).toBe(status.INVALID_ARGUMENT);
  });
});

describe('signals, stdin, wait, remove', () => {
  it('Signal KILL ends the whole process group, grandchildren included', async () => {
    const { process: info } = await api.startProcess({ process: shell('sleep 60 & echo $!; wait') });
    const id = info?.id ?? '';
    const grandchild = Number(
      await eventually(async () => {
        const out = (await attach(api, id, 0, false)).text;
        return out.includes('\n') ? out.trim() : undefined;
      }),
    );
    expect(alive(grandchild)).toBe(true);
    await api.signalProcess({ id, signal: Signal.KILL });
    const { process: done } = await api.waitProcess({ id });
    expect(done?.state).toBe(ProcessState.EXITED);
    expect(done?.exit).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
    await eventually(() => (alive(grandchild) ? undefined : true));
    // Signalling a finished process is not an error.
    await api.signalProcess({ id, signal: Signal.TERM });
  });

  it('feeds stdin in order across calls, closes it, and refuses writes after', async () => {
    const { process: info } = await api.startProcess({ process: argv('cat'), stdin: true });
    const id = info?.id ?? '';
    expect(info?.stdinOpen).toBe(true);
    await Promise.all([
      api.writeProcessStdin({ id, data: Buffer.from('one ') }),
      api.writeProcessStdin({ id, data: Buffer.from('two ') }),
      api.writeProcessStdin({ id, data: Buffer.from('three'), close: true }),
    ]);
    const after = await failure(api.writeProcessStdin({ id, data: Buffer.from('late') }));
    expect(code(after)).toBe(status.FAILED_PRECONDITION);
    const read = await attach(api, id, 0, true);
    expect(read.text).toBe('one two three');
    expect(read.exit?.exitCode).toBe(0);
  });

  it('refuses stdin to a process started without it', async () => {
    const { process: info } = await api.startProcess({ process: argv('sleep', '60') });
    const error = await failure(api.writeProcessStdin({ id: info?.id ?? '', data: Buffer.from('x') }));
    expect(code(error)).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toMatch(/stdin is closed or was not requested/);
  });

  it('Wait with a timeout answers RUNNING when it passes; the process is unaffected', async () => {
    const { process: info } = await api.startProcess({ process: argv('sleep', '60') });
    const id = info?.id ?? '';
    expect((await api.waitProcess({ id, timeoutMs: 0 })).process?.state).toBe(ProcessState.RUNNING);
    expect((await api.waitProcess({ id, timeoutMs: 50 })).process?.state).toBe(ProcessState.RUNNING);
    const error = await failure(api.waitProcess({ id }, { deadline: Date.now() + 200 }));
    expect(code(error)).toBe(status.DEADLINE_EXCEEDED);
    expect(alive(info?.pid ?? 0)).toBe(true);
    expect(code(await failure(api.removeProcess({ id })))).toBe(status.FAILED_PRECONDITION);
  });

  it('Remove forgets a finished process; its id is then NOT_FOUND and never reused', async () => {
    const { process: a } = await api.startProcess({ process: argv('true') });
    await api.waitProcess({ id: a?.id ?? '' });
    await api.removeProcess({ id: a?.id ?? '' });
    expect(code(await failure(api.getProcess({ id: a?.id ?? '' })))).toBe(status.NOT_FOUND);
    const { process: b } = await api.startProcess({ process: argv('true') });
    expect(b?.id).not.toBe(a?.id);
  });

  it('masks secret_env values in the retained output, as Exec does', async () => {
    const { process: info } = await api.startProcess({
      process: { ...shell('echo "token=$TOKEN"; echo "$TOKEN" >&2'), secretEnv: { TOKEN: 's3cr3t-value' } },
    });
    const read = await attach(api, info?.id ?? '', 0, true);
    expect(read.text).not.toContain('s3cr3t-value');
    expect(read.text).toContain('token=***');
    expect(info?.command).not.toContain('s3cr3t-value');
  });

  it('has no timeout unless one is set, and enforces one that is', async () => {
    const { process: unlimited } = await api.startProcess({ process: argv('sleep', '60') });
    // Under the agent's default (100 ms + 200 ms grace) it would be dead well within this wait.
    const waited = await api.waitProcess({ id: unlimited?.id ?? '', timeoutMs: 1500 });
    expect(waited.process?.state).toBe(ProcessState.RUNNING);
    const { process: info } = await api.startProcess({ process: { ...argv('sleep', '60'), timeoutMs: 100 } });
    const { process: done } = await api.waitProcess({ id: info?.id ?? '' });
    expect(done?.exit?.timedOut).toBe(true);
  });
});

describe('hostile callers', () => {
  it('leaves nothing behind for attach and wait calls that give up on a silent process', async () => {
    const { process: info } = await api.startProcess({ process: argv('sleep', '60') });
    const id = info?.id ?? '';
    const bp = agent.deps.background.get(id);
    for (let i = 0; i < 20; i++) {
      const abort = new AbortController();
      const frames = api.attachProcess({ id, fromOffset: 0n, follow: true }, { signal: abort.signal });
      const iterator = frames[Symbol.asyncIterator]();
      await iterator.next(); // attached: the agent is now waiting for output
      abort.abort();
      await iterator.next().catch(() => undefined);
      await failure(api.waitProcess({ id }, { deadline: Date.now() + 20 }));
    }
    // Each call's waiter is gone once the agent has seen the call end.
    await eventually(() => (bp.ring.waiters === 0 && bp.waiters === 0 ? true : undefined));
  });

  it('waits as long as asked even beyond what a timer holds (2^31 ms)', async () => {
    const { process: info } = await api.startProcess({ process: argv('sleep', '60') });
    const error = await failure(
      api.waitProcess({ id: info?.id ?? '', timeoutMs: 4_000_000_000 }, { deadline: Date.now() + 300 }),
    );
    expect(code(error)).toBe(status.DEADLINE_EXCEEDED);
  });

  it('bounds the stdin a process has not read yet: past the backlog cap, RESOURCE_EXHAUSTED', async () => {
    const { process: info } = await api.startProcess({ process: argv('sleep', '60'), stdin: true });
    const id = info?.id ?? '';
    const big = Buffer.alloc(3 * 1024 * 1024, 'x');
    // Nothing reads: after the pipe's 64 KiB every byte waits in the agent. Two writes fit the
    // 8 MiB backlog and wait; the other two are refused at once, so a refusal ends first.
    const outcomes = [1, 2, 3, 4].map(() =>
      api.writeProcessStdin({ id, data: big }).then(
        () => undefined,
        (error: unknown) => error as ServiceError,
      ),
    );
    const first = await Promise.race(outcomes);
    expect(code(first)).toBe(status.RESOURCE_EXHAUSTED);
    expect(first?.details).toMatch(/stdin/);
    // The waiting writes end when the process does, and say their bytes were never read.
    await api.signalProcess({ id, signal: Signal.KILL });
    const codes = (await Promise.all(outcomes)).map(code).sort();
    expect(codes).toEqual(
      [
        status.FAILED_PRECONDITION,
        status.FAILED_PRECONDITION,
        status.RESOURCE_EXHAUSTED,
        status.RESOURCE_EXHAUSTED,
      ].sort(),
    );
  });
});

describe('hostile requests', () => {
  /** A process that has printed `abc` and prints `def` once it reads a line. */
  async function pausedAfterAbc(): Promise<string> {
    const { process: info } = await api.startProcess({
      process: shell('printf abc; read x; printf def'),
      stdin: true,
    });
    const id = info?.id ?? '';
    await eventually(async () =>
      (await api.getProcess({ id })).process?.endOffset === 3n ? true : undefined,
    );
    return id;
  }

  it.each([
    ['2^53', 2n ** 53n],
    ['2^53 + 1', 2n ** 53n + 1n],
    ['2^64 - 1', 2n ** 64n - 1n],
  ])('attach from offset %s starts at the end, as any offset past it does', async (_name, fromOffset) => {
    const id = await pausedAfterAbc();
    const now = await attach(api, id, fromOffset, false);
    expect(now.attached).toMatchObject({ startOffset: 3n, bytesDropped: false });
    expect(now.chunks).toEqual([]);
    expect(now.exit).toBeUndefined();

    // Following from there: the next byte written, then the exit.
    const followed = attach(api, id, fromOffset, true);
    await eventually(() => (agent.deps.background.get(id).ring.waiters > 0 ? true : undefined));
    await api.writeProcessStdin({ id, data: Buffer.from('\n') });
    const read = await followed;
    expect(read.attached).toMatchObject({ startOffset: 3n, bytesDropped: false });
    expect(read.chunks).toEqual([{ offset: 3, stream: OutputStream.STDOUT, text: 'def' }]);
    expect(read.exit?.exitCode).toBe(0);
  });

  /** Every rpc that names a process, called with `id`. */
  const byId = (id: string): [string, () => Promise<unknown>][] => [
    ['GetProcess', () => api.getProcess({ id })],
    ['AttachProcess', () => attach(api, id, 0, false)],
    ['WriteProcessStdin', () => api.writeProcessStdin({ id, data: Buffer.from('x') })],
    ['SignalProcess', () => api.signalProcess({ id, signal: Signal.TERM })],
    ['ResizeProcess', () => api.resizeProcess({ id, size: { rows: 24, cols: 80 } })],
    ['WaitProcess', () => api.waitProcess({ id, timeoutMs: 0 })],
    ['RemoveProcess', () => api.removeProcess({ id })],
  ];

  it.each([
    ['65 characters', 'a'.repeat(65)],
    ['64 emoji (128 UTF-16 units)', '\u{1F600}'.repeat(64)],
    ['a newline', 'abc\nid: forged'],
    ['a NUL byte', 'abc\0def'],
    ['a path', '../etc/passwd'],
    ['a space', 'a b'],
    ['a non-ASCII letter', 'caf\u00e9'],
    ['a leading dash', '-abc'],
  ])('refuses an id with %s as INVALID_ARGUMENT on every rpc, without echoing it', async (_name, id) => {
    for (const [rpc, call] of byId(id)) {
      const error = await failure(call());
      expect([rpc, code(error)]).toEqual([rpc, status.INVALID_ARGUMENT]);
      expect(error.details).toMatch(/^id must be 1-64 letters, digits/);
    }
  });

  it('treats a well-formed id of 64 characters that names nothing as NOT_FOUND on every rpc', async () => {
    for (const [rpc, call] of byId('a'.repeat(64))) {
      expect([rpc, code(await failure(call()))]).toEqual([rpc, status.NOT_FOUND]);
    }
  });

  it('refuses stdin to a process that has exited, whatever the write asks', async () => {
    const { process: info } = await api.startProcess({ process: argv('true'), stdin: true });
    const id = info?.id ?? '';
    expect((await api.waitProcess({ id })).process?.stdinOpen).toBe(false);
    for (const request of [
      { id, data: Buffer.from('late') },
      { id, data: Buffer.alloc(0), close: true },
      { id, data: Buffer.alloc(0) },
    ]) {
      const error = await failure(api.writeProcessStdin(request));
      expect(code(error)).toBe(status.FAILED_PRECONDITION);
      expect(error.details).toMatch(/has exited/);
    }
  });

  it('ends a stdin write the process never read when the process dies, instead of holding the call', async () => {
    const { process: info } = await api.startProcess({ process: argv('sleep', '60'), stdin: true });
    const id = info?.id ?? '';
    // More than the pipe holds: the call waits for a reader that never comes.
    const pending = api.writeProcessStdin({ id, data: Buffer.alloc(1024 * 1024, 'x') });
    await api.signalProcess({ id, signal: Signal.KILL });
    const outcome = await pending.then(
      () => status.OK,
      (error: unknown) => code(error),
    );
    expect(outcome).toBe(status.FAILED_PRECONDITION);
    expect((await api.waitProcess({ id })).process?.exit?.signal).toBe('SIGKILL');
  });

  it.each([
    ['UNSPECIFIED', Signal.UNSPECIFIED],
    ['3 (SIGQUIT, not in the enum)', 3],
    ['99', 99],
    ['-1', -1],
    ['2^31 - 1', 0x7fff_ffff],
  ])('refuses signal %s as INVALID_ARGUMENT and leaves the process running', async (_name, signal) => {
    const { process: info } = await api.startProcess({ process: argv('sleep', '60') });
    const id = info?.id ?? '';
    // Any int32 may arrive on the wire (a client built from another revision of the proto).
    const request = Object.assign({ id, signal: Signal.TERM }, { signal });
    const error = await failure(api.signalProcess(request));
    expect(code(error)).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe(`signal ${signal} is not one of HUP, INT, KILL, TERM`);
    expect((await api.getProcess({ id })).process?.state).toBe(ProcessState.RUNNING);
    expect(alive(info?.pid ?? 0)).toBe(true);
  });

  it.each([
    ['zero rows and cols', { rows: 0, cols: 0 }, /size\.rows must be at least 1/],
    ['2^32 - 1 rows', { rows: 0xffff_ffff, cols: 80 }, /size\.rows must be at most 10000/],
    ['2^32 - 1 cols', { rows: 24, cols: 0xffff_ffff }, /size\.cols must be at most 10000/],
  ])('refuses a resize to %s before looking the process up', async (_name, size, message) => {
    const error = await failure(api.resizeProcess({ id: 'no-such-process', size }));
    expect(code(error)).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(message);
  });
});

describe('a process removed while a reader is behind', () => {
  let big: TestAgent;
  beforeAll(async () => {
    big = await startTestAgent({ SANDBANK_AGENT_PROCESS_BUFFER_BYTES: String(8 * 1024 * 1024) });
  });
  afterAll(async () => big.close());

  it('ends that reader with NOT_FOUND instead of a silently short stream', async () => {
    const bigApi = createAgentPromiseClient(big.client);
    const { process: info } = await bigApi.startProcess({ process: shell('head -c 8000000 /dev/zero') });
    const id = info?.id ?? '';
    await bigApi.waitProcess({ id });
    const frames = bigApi.attachProcess({ id, fromOffset: 0n, follow: false })[Symbol.asyncIterator]();
    await frames.next(); // attached; the agent now blocks on flow control well before 8 MB
    await bigApi.removeProcess({ id });
    let received = 0;
    let exit = false;
    const error = await failure(
      (async () => {
        for (let next = await frames.next(); !next.done; next = await frames.next()) {
          const e = next.value.event;
          if (e.case === 'output') received += e.value.data.length;
          if (e.case === 'exit') exit = true;
        }
      })(),
    );
    expect(code(error)).toBe(status.NOT_FOUND);
    expect(error.details).toMatch(/removed/);
    expect(received).toBeLessThan(8_000_000);
    expect(exit).toBe(false);
  });
});

describe('limits and bad requests', () => {
  it('refuses a process over the running cap with RESOURCE_EXHAUSTED, and takes one once another ends', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await api.startProcess({ process: argv('sleep', '60') })).process?.id ?? '');
    const error = await failure(api.startProcess({ process: argv('true') }));
    expect(code(error)).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.details).toMatch(/3 are running/);
    await api.signalProcess({ id: ids[0] ?? '', signal: Signal.KILL });
    await api.waitProcess({ id: ids[0] ?? '' });
    await api.startProcess({ process: argv('true') });
  });

  it('evicts the finished process that ended first when the retained cap is reached', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = (await api.startProcess({ process: argv('true') })).process?.id ?? '';
      await api.waitProcess({ id });
      ids.push(id);
    }
    const sixth = (await api.startProcess({ process: argv('true') })).process?.id ?? '';
    const listed = (await api.listProcesses({})).processes.map((p) => p.id);
    expect(listed).toEqual([...ids.slice(1), sixth]);
  });

  it.each([
    ['a bad tty size', { process: argv('true'), tty: { rows: 0, cols: 80 } }, /tty\.rows/],
    ['an empty command', { process: shell(' ') }, /command\.shell is empty/],
    ['an env name with "="', { process: { ...argv('true'), env: { 'A=B': 'c' } } }, /env: name 'A=B'/],
  ])(
    'refuses %s at the retained cap with INVALID_ARGUMENT and evicts nothing',
    async (_name, request, message) => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = (await api.startProcess({ process: argv('true') })).process?.id ?? '';
        await api.waitProcess({ id });
        ids.push(id);
      }
      const refused = await failure(api.startProcess(request));
      expect(code(refused)).toBe(status.INVALID_ARGUMENT);
      expect(refused.details).toMatch(message);
      expect((await api.listProcesses({})).processes.map((p) => p.id)).toEqual(ids);
    },
  );

  it('refuses to resize a process without a tty, and a size without cells', async () => {
    const { process: info } = await api.startProcess({ process: argv('sleep', '60') });
    const id = info?.id ?? '';
    const noTty = await failure(api.resizeProcess({ id, size: { cols: 100, rows: 40 } }));
    expect(code(noTty)).toBe(status.FAILED_PRECONDITION);
    expect(noTty.details).toMatch(/no tty/);
    expect(code(await failure(api.resizeProcess({ id, size: { cols: 0, rows: 40 } })))).toBe(
      status.INVALID_ARGUMENT,
    );
    expect(code(await failure(api.resizeProcess({ id })))).toBe(status.INVALID_ARGUMENT);
  });

  it('rejects bad commands and unknown signals with clear codes', async () => {
    expect(code(await failure(api.startProcess({})))).toBe(status.INVALID_ARGUMENT);
    const missing = await failure(api.startProcess({ process: argv('/no/such/program') }));
    expect(code(missing)).toBe(status.NOT_FOUND);
    expect((await api.listProcesses({})).processes).toEqual([]); // a failed spawn keeps nothing
    const { process: info } = await api.startProcess({ process: argv('true') });
    const bad = await failure(api.signalProcess({ id: info?.id ?? '', signal: Signal.UNSPECIFIED }));
    expect(code(bad)).toBe(status.INVALID_ARGUMENT);
  });
});
