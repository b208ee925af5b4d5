/**
 * Background processes on a terminal, against real pseudo-terminals of this machine over loopback
 * gRPC: a shell started with a tty by one client and driven by another (`stty size` before and
 * after ResizeProcess, both read back from the ring), Ctrl-C (0x03) interrupting a `sleep`, the
 * output outliving the first client, TERM, exit status, and sizes validated as for Exec.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { jest } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { createAgentPromiseClient, OutputStream, ProcessState } from '@sandbank/proto';
import type { AgentPromiseClient } from '@sandbank/proto';
import { alive, argv, eventually, failure, shell } from '../helpers/calls.js';
import { removeEveryProcess, retained, retainedMatching } from '../helpers/processes.js';
import { startTestAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';

jest.setTimeout(60_000);

let agent: TestAgent;
let api: AgentPromiseClient;
beforeAll(async () => {
  agent = await startTestAgent({ SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES: '4' });
  api = createAgentPromiseClient(agent.client);
});
afterAll(async () => agent.close());

afterEach(async () => removeEveryProcess(api));

const code = (error: unknown): status | undefined => (error as ServiceError).code;
const keys = (client: AgentPromiseClient, id: string, text: string) =>
  client.writeProcessStdin({ id, data: Buffer.from(text) });
const ringMatches = (client: AgentPromiseClient, id: string, pattern: RegExp) =>
  retainedMatching(client, id, pattern, 30_000);

/** Pids of processes whose argv is exactly `args` (a unique `sleep` duration names one). */
function pidsOf(args: string[]): number[] {
  const want = `${args.join('\0')}\0`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') === want) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

describe('a shell on a terminal in the background', () => {
  it('is started by one client, attached and resized by another; both sizes are in the ring', async () => {
    const first = agent.newClient();
    const { process: info } = await createAgentPromiseClient(first).startProcess({
      process: argv('sh'),
      stdin: true,
      tty: { rows: 24, cols: 80 },
    });
    const id = info?.id ?? '';
    expect(info?.state).toBe(ProcessState.RUNNING);
    expect(info?.stdinOpen).toBe(true);
    first.close(); // detached: the agent alone holds the shell and its terminal

    const second = createAgentPromiseClient(agent.newClient());
    await keys(second, id, 'stty size\n');
    await ringMatches(second, id, /24 80\r\n/);
    await second.resizeProcess({ id, size: { rows: 40, cols: 132 } });
    await keys(second, id, 'stty size\n');
    const { text, streams } = await ringMatches(second, id, /40 132\r\n/);
    expect(text.indexOf('24 80\r\n')).toBeLessThan(text.indexOf('40 132\r\n'));
    expect([...streams]).toEqual([OutputStream.STDOUT]); // one stream: the terminal

    await keys(second, id, 'exit 3\n');
    const { process: done } = await second.waitProcess({ id });
    expect(done?.state).toBe(ProcessState.EXITED);
    expect(done?.exit).toMatchObject({ exitCode: 3, signal: '', timedOut: false });
  });

  it('interrupts the foreground `sleep` on 0x03, and the shell carries on', async () => {
    const { process: info } = await api.startProcess({
      process: argv('bash', '--norc', '--noprofile'),
      stdin: true,
      tty: { rows: 24, cols: 80 },
    });
    const id = info?.id ?? '';
    const sleeper = ['sleep', '61.25'];
    await keys(api, id, `${sleeper.join(' ')}\n`);
    const [pid] = await eventually(() => {
      const pids = pidsOf(sleeper);
      return pids.length > 0 ? pids : undefined;
    }, 30_000);
    await keys(api, id, '\x03');
    await eventually(() => (alive(pid ?? 0) ? undefined : true), 30_000);
    await keys(api, id, 'echo "after=$?"\n');
    await ringMatches(api, id, /after=130\r\n/);
    expect((await api.getProcess({ id })).process?.state).toBe(ProcessState.RUNNING);
  });

  it("keeps a tty process's output when the first client goes away mid-stream", async () => {
    const first = agent.newClient();
    const firstApi = createAgentPromiseClient(first);
    const { process: info } = await firstApi.startProcess({
      process: argv('sh'),
      stdin: true,
      tty: { rows: 24, cols: 80 },
    });
    const id = info?.id ?? '';
    const seen = (async () => {
      let text = '';
      for await (const frame of firstApi.attachProcess({ id, fromOffset: 0n, follow: true })) {
        if (frame.event.case === 'output') text += Buffer.from(frame.event.value.data).toString();
        if (/one\r\n/.test(text)) return text;
      }
      return text;
    })();
    await keys(firstApi, id, 'echo o""ne\n');
    expect(await seen).toMatch(/one\r\n/);
    first.close(); // the reader and the starter are gone

    const second = createAgentPromiseClient(agent.newClient());
    expect((await second.getProcess({ id })).process?.state).toBe(ProcessState.RUNNING);
    await keys(second, id, 'echo t""wo\n');
    const { text } = await ringMatches(second, id, /two\r\n/);
    expect(text).toMatch(/one\r\n/);
    await keys(second, id, 'exit\n');
    expect((await second.waitProcess({ id })).process?.exit?.exitCode).toBe(0);
  });

  it('names the terminal type xterm-256color unless the caller sets TERM', async () => {
    const started = await Promise.all([
      api.startProcess({ process: shell('echo "term=$TERM"; tty'), tty: { rows: 24, cols: 80 } }),
      api.startProcess({
        process: { ...shell('echo "term=$TERM"'), env: { TERM: 'vt100' } },
        tty: { rows: 24, cols: 80 },
      }),
    ]);
    const [plain, named] = started.map((s) => s.process?.id ?? '');
    for (const id of [plain ?? '', named ?? '']) await api.waitProcess({ id });
    const plainText = (await retained(api, plain ?? '')).text;
    expect(plainText).toMatch(/^term=xterm-256color\r\n\/dev\/pts\/\d+\r\n$/);
    expect((await retained(api, named ?? '')).text).toBe('term=vt100\r\n');
  });
});

describe('validation', () => {
  it.each([
    ['zero rows', { rows: 0, cols: 80 }, /tty\.rows must be at least 1/],
    ['too many cols', { rows: 24, cols: 65_536 }, /tty\.cols must be at most 10000/],
  ])('refuses a start size with %s (INVALID_ARGUMENT, nothing kept)', async (_name, tty, message) => {
    const refused = await failure(api.startProcess({ process: argv('true'), tty }));
    expect(code(refused)).toBe(status.INVALID_ARGUMENT);
    expect(refused.details).toMatch(message);
    expect((await api.listProcesses({})).processes).toEqual([]);
  });

  it('refuses a resize with a bad size, of a process that exited, and of one without a tty', async () => {
    const { process: info } = await api.startProcess({
      process: argv('sh'),
      stdin: true,
      tty: { rows: 24, cols: 80 },
    });
    const id = info?.id ?? '';
    const tooWide = await failure(api.resizeProcess({ id, size: { rows: 24, cols: 65_536 } }));
    expect(code(tooWide)).toBe(status.INVALID_ARGUMENT);
    expect(tooWide.details).toMatch(/size\.cols must be at most 10000/);
    const noRows = await failure(api.resizeProcess({ id, size: { rows: 0, cols: 80 } }));
    expect(noRows.details).toMatch(/size\.rows must be at least 1/);
    expect(code(await failure(api.resizeProcess({ id })))).toBe(status.INVALID_ARGUMENT);
    // A bad resize changes nothing: the shell still runs at its start size.
    await keys(api, id, 'stty size; exit 0\n');
    await api.waitProcess({ id });
    expect((await retained(api, id)).text).toMatch(/24 80\r\n/);
    const exited = await failure(api.resizeProcess({ id, size: { rows: 30, cols: 90 } }));
    expect(code(exited)).toBe(status.FAILED_PRECONDITION);

    const plain = (await api.startProcess({ process: argv('sleep', '60') })).process?.id ?? '';
    const noTty = await failure(api.resizeProcess({ id: plain, size: { rows: 30, cols: 90 } }));
    expect(code(noTty)).toBe(status.FAILED_PRECONDITION);
    expect(noTty.details).toMatch(/no tty/);
  });

  it('refuses stdin writes to a tty process started without stdin, and resizes it still', async () => {
    const { process: info } = await api.startProcess({
      process: shell("trap 'stty size; exit 5' WINCH; echo ready; while :; do sleep 0.05; done"),
      tty: { rows: 24, cols: 80 },
    });
    const id = info?.id ?? '';
    expect(info?.stdinOpen).toBe(false);
    expect(code(await failure(keys(api, id, 'x')))).toBe(status.FAILED_PRECONDITION);
    await ringMatches(api, id, /ready\r\n/); // the trap is set
    await api.resizeProcess({ id, size: { rows: 33, cols: 77 } });
    expect((await api.waitProcess({ id })).process?.exit?.exitCode).toBe(5);
    expect((await retained(api, id)).text).toBe('ready\r\n33 77\r\n');
  });
});
