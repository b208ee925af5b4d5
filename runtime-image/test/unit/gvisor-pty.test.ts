/**
 * Exec with a tty inside gVisor (see gvisor.test.ts for the sandbox): the relay's pty calls
 * (openpty, TIOCSCTTY, TIOCSWINSZ) and the line discipline's signals are gVisor's here, not the
 * host kernel's; the same for a background process on a terminal (StartProcess with tty). Fails,
 * never skips, without runsc.
 */
import { jest } from '@jest/globals';
import { createAgentPromiseClient } from '@sandbank/proto';
import { useGvisorSandbox } from '../helpers/gvisor-sandbox.js';
import { argv, execResult, frameWhere, shell, started, startExec, stdoutOf } from '../helpers/calls.js';
import type { ExecCall, Spec } from '../helpers/calls.js';
import { retainedMatching } from '../helpers/processes.js';

jest.setTimeout(40_000);

const gvisor = useGvisorSandbox();

/** Exec on a terminal of `rows`×`cols`, stdin open. */
const exec = (spec: Spec, rows = 24, cols = 80): ExecCall =>
  startExec(gvisor.client, spec, { stdin: true, tty: { rows, cols } });

const output = (call: ExecCall) => stdoutOf(call, 60_000);

it('a terminal in gVisor: start size, a resize as SIGWINCH, and TERM', async () => {
  const call = exec(
    shell('trap \'stty size; exit 7\' WINCH; stty size; echo "$TERM $(tty)"; while :; do sleep 0.05; done'),
    37,
    101,
  );
  const out = output(call);
  await out.waitFor('37 101\r\n');
  await out.waitFor('xterm-256color /dev/pts/');
  call.write({ frame: { case: 'resize', value: { rows: 50, cols: 132 } } });
  const r = await execResult(call);
  expect(r.error).toBeUndefined();
  expect(out.bytes().toString()).toContain('50 132\r\n');
  expect(r.exit?.exitCode).toBe(7);
});

it('0x03 interrupts the program through gVisor’s line discipline', async () => {
  const call = exec(argv('sleep', '60'));
  await frameWhere(call, started);
  call.write({ frame: { case: 'stdin', value: Buffer.from([0x03]) } });
  const r = await execResult(call);
  expect(r.exit).toMatchObject({ exitCode: 130, signal: 'SIGINT' });
});

it('raw bytes both ways, all 256 values, and escape sequences byte for byte', async () => {
  const call = exec(shell('stty raw -echo; printf "\\033[?1049hREADY"; exec head -c 256'));
  const out = output(call);
  await out.waitFor('READY');
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  call.write({ frame: { case: 'stdin', value: all } });
  const r = await execResult(call);
  expect(r.exit?.exitCode).toBe(0);
  expect(out.bytes()).toEqual(Buffer.concat([Buffer.from('\x1b[?1049hREADY'), all]));
});

it('the call ends when the program exits, with all its output', async () => {
  const call = exec(shell('sleep 60 & head -c 300000 /dev/zero | tr "\\0" a; echo; exit 5'));
  const out = output(call);
  const r = await execResult(call);
  expect(r.exit).toMatchObject({ exitCode: 5, signal: '' });
  expect(out.bytes().toString()).toBe(`${'a'.repeat(300000)}\r\n`);
});

describe('a background process on a terminal in gVisor', () => {
  it('a shell started by one client is resized by another; both sizes are in the ring', async () => {
    const first = gvisor.newClient();
    const { process: info } = await createAgentPromiseClient(first).startProcess({
      process: argv('sh'),
      stdin: true,
      tty: { rows: 24, cols: 80 },
    });
    const id = info?.id ?? '';
    first.close();
    const api = createAgentPromiseClient(gvisor.client);
    await api.writeProcessStdin({ id, data: Buffer.from('stty size\n') });
    await retainedMatching(api, id, /24 80\r\n/, 60_000);
    await api.resizeProcess({ id, size: { rows: 40, cols: 132 } });
    await api.writeProcessStdin({ id, data: Buffer.from('stty size; exit 4\n') });
    expect((await api.waitProcess({ id })).process?.exit?.exitCode).toBe(4);
    const { text } = await retainedMatching(api, id, /40 132\r\n/, 60_000);
    expect(text.indexOf('24 80\r\n')).toBeLessThan(text.indexOf('40 132\r\n'));
  });

  it('0x03 interrupts it', async () => {
    const api = createAgentPromiseClient(gvisor.client);
    const { process: info } = await api.startProcess({
      process: argv('sleep', '60'),
      stdin: true,
      tty: { rows: 24, cols: 80 },
    });
    const id = info?.id ?? '';
    await api.writeProcessStdin({ id, data: Buffer.from([0x03]) });
    const { process: done } = await api.waitProcess({ id });
    expect(done?.exit).toMatchObject({ exitCode: 130, signal: 'SIGINT' });
  });
});
