/**
 * Exec with a tty, against real pseudo-terminals of this machine over a real loopback gRPC
 * connection: the start size and resizes (SIGWINCH, `stty size`), raw bytes both ways, Ctrl-C
 * through the line discipline, escape sequences byte for byte, TERM, exit status and signals,
 * one output stream, backpressure, and that the terminal gives the process nothing plain exec
 * does not (descriptors, signal dispositions, ids, capabilities, environment).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { Signal } from '@sandbank/proto';
import type { ExecResponse } from '@sandbank/proto';
import {
  alive,
  argv,
  eventually,
  execResult,
  frameWhere,
  shell,
  started,
  startExec,
  stdoutOf,
} from '../helpers/calls.js';
import type { ExecCall, Spec } from '../helpers/calls.js';
import { startTestAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';

jest.setTimeout(30_000);

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent({ SANDBANK_AGENT_MAX_PROCESSES: '8' });
});
afterAll(async () => agent.close());

interface Size {
  rows: number;
  cols: number;
}

/** Exec with a 24×80 terminal, or with none when `tty` is null. */
const exec = (spec: Spec, tty: Size | null = { rows: 24, cols: 80 }, stdin = true): ExecCall =>
  startExec(agent.client, spec, { stdin, ...(tty ? { tty } : {}) });

const keys = (call: ExecCall, bytes: Uint8Array | string): void => {
  call.write({ frame: { case: 'stdin', value: typeof bytes === 'string' ? Buffer.from(bytes) : bytes } });
};

/** Every stdout byte of a call as it arrives, with a way to wait for a byte pattern. */
const output = (call: ExecCall) => stdoutOf(call, 20_000);

/** The exit frame and error of a call whose frames `output` is already collecting. */
async function ending(call: ExecCall) {
  const r = await execResult(call);
  return { exit: r.exit, error: r.error, streams: new Set(r.frames.map((f) => f.event.case)) };
}

describe('terminal size', () => {
  it('starts at the requested size, and a resize reaches the program as SIGWINCH and a new size', async () => {
    const call = exec(
      shell('trap \'stty size; exit 7\' WINCH; stty size; echo "tty=$(tty)"; while :; do sleep 0.05; done'),
      { rows: 37, cols: 101 },
    );
    const out = output(call);
    await out.waitFor('37 101\r\n');
    await out.waitFor('tty=/dev/pts/');
    call.write({ frame: { case: 'resize', value: { rows: 50, cols: 132 } } });
    const end = await ending(call);
    expect(out.bytes().toString()).toContain('50 132\r\n');
    expect(end.exit?.exitCode).toBe(7);
  });

  it('applies a resize and the keystrokes after it in the order they were sent', async () => {
    const call = exec(shell('stty size; read line; stty size; echo "got $line"'), { rows: 24, cols: 80 });
    const out = output(call);
    await out.waitFor('24 80\r\n');
    call.write({ frame: { case: 'resize', value: { rows: 9, cols: 33 } } });
    keys(call, 'go\n');
    const end = await ending(call);
    expect(out.bytes().toString()).toMatch(/24 80\r\ngo\r\n9 33\r\ngot go\r\n$/);
    expect(end.exit?.exitCode).toBe(0);
  });

  it.each([
    ['zero rows', { rows: 0, cols: 80 }, /tty\.rows must be at least 1/],
    ['zero cols', { rows: 24, cols: 0 }, /tty\.cols must be at least 1/],
    ['an empty size', {}, /tty\.rows must be at least 1/],
    ['too many rows', { rows: 10_001, cols: 80 }, /tty\.rows must be at most 10000/],
    ['too many cols', { rows: 24, cols: 4_000_000_000 }, /tty\.cols must be at most 10000/],
  ])('refuses a start size with %s (INVALID_ARGUMENT, nothing runs)', async (_name, tty, message) => {
    const r = await execResult(exec(argv('touch', 'should-not-exist'), tty as Size));
    expect(r.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(r.error?.details).toMatch(message);
    expect(r.frames).toHaveLength(0);
    await expect(readFile(join(agent.dir, 'should-not-exist'))).rejects.toThrow();
  });

  it.each([
    ['zero rows', { rows: 0, cols: 80 }, /resize\.rows must be at least 1/],
    ['too many cols', { rows: 24, cols: 65_536 }, /resize\.cols must be at most 10000/],
  ])('refuses a resize with %s and kills the process', async (_name, size, message) => {
    const call = exec(shell('echo $$; exec sleep 60'));
    const out = output(call);
    await frameWhere(call, started);
    await out.waitFor('\r\n');
    const programPid = Number(out.bytes().toString().trim());
    call.write({ frame: { case: 'resize', value: size } });
    const r = await execResult(call);
    expect(r.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(r.error?.details).toMatch(message);
    await eventually(() => (alive(programPid) ? undefined : true), 10_000);
  });

  it('a resize without a tty is still FAILED_PRECONDITION', async () => {
    const call = exec(argv('sleep', '60'), null);
    const pid = await frameWhere(call, started).then((f) =>
      f.event.case === 'started' ? f.event.value.pid : 0,
    );
    call.write({ frame: { case: 'resize', value: { rows: 24, cols: 80 } } });
    const r = await execResult(call);
    expect(r.error?.code).toBe(status.FAILED_PRECONDITION);
    await eventually(() => (alive(pid) ? undefined : true), 10_000);
  });
});

describe('bytes both ways', () => {
  it('cat echoes raw bytes, non-UTF-8 included, and 0x04 ends its input', async () => {
    const call = exec(argv('cat'));
    const out = output(call);
    await frameWhere(call, started);
    const line = Buffer.from([0x41, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x42]);
    keys(call, Buffer.concat([line, Buffer.from('\n')]));
    keys(call, Buffer.from([0x04]));
    const end = await ending(call);
    const expected = Buffer.concat([line, Buffer.from('\r\n')]);
    // Once as the terminal's echo, once as cat's output: the same bytes, undecoded.
    expect(out.bytes()).toEqual(Buffer.concat([expected, expected]));
    expect(end.exit?.exitCode).toBe(0);
  });

  it('passes all 256 byte values unchanged to a program in raw mode and back', async () => {
    const call = exec(shell('stty raw -echo; printf READY; exec head -c 256'));
    const out = output(call);
    await out.waitFor('READY');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    keys(call, all);
    const end = await ending(call);
    expect(out.bytes()).toEqual(Buffer.concat([Buffer.from('READY'), all]));
    expect(end.exit?.exitCode).toBe(0);
  });

  it("delivers a full-screen program's escape sequences byte for byte, with TERM xterm-256color", async () => {
    const call = exec(
      shell(
        'printf "%s|" "$TERM"; tput cup 5 10; printf "\\033[?1049h\\033[2J\\033[1;31mX\\033[0m\\033[?1049l"',
      ),
    );
    const out = output(call);
    const end = await ending(call);
    expect(out.bytes()).toEqual(
      Buffer.from('xterm-256color|\x1b[6;11H\x1b[?1049h\x1b[2J\x1b[1;31mX\x1b[0m\x1b[?1049l'),
    );
    expect(end.exit?.exitCode).toBe(0);
  });

  it("keeps the caller's TERM, from env or secret_env", async () => {
    for (const spec of [
      { ...shell('echo "$TERM"'), env: { TERM: 'vt100' } },
      { ...shell('echo "$TERM"'), secretEnv: { TERM: 'vt220' } },
    ]) {
      const call = exec(spec);
      const out = output(call);
      await ending(call);
      expect(out.bytes().toString()).toBe('env' in spec ? 'vt100\r\n' : '***\r\n');
    }
  });

  it('sends stdout and stderr as one stream, never as stderr frames', async () => {
    const call = exec(shell('echo out; echo err >&2; echo out2'));
    const out = output(call);
    const end = await ending(call);
    expect(out.bytes().toString()).toBe('out\r\nerr\r\nout2\r\n');
    expect(end.streams.has('stderr')).toBe(false);
  });

  it('masks secrets in the terminal stream too', async () => {
    const call = exec({ ...shell('echo "k=$KEY"'), secretEnv: { KEY: 'hunter2-abc' } });
    const out = output(call);
    await ending(call);
    expect(out.bytes().toString()).toBe('k=***\r\n');
  });

  it('streams large output completely, and a slow reader stalls the program', async () => {
    const progress = join(agent.dir, 'tty-progress');
    const total = 32 * 1024 * 1024;
    const writer = `
      const fs = require('fs');
      const chunk = Buffer.alloc(65536, 97);
      let written = 0;
      while (written < ${total}) {
        written += fs.writeSync(1, chunk);
        fs.writeFileSync(${JSON.stringify(progress)}, String(written));
      }`;
    const call = exec(argv(process.execPath, '-e', writer));
    await frameWhere(call, started);
    call.pause();
    const readProgress = async (): Promise<number> =>
      Number(await readFile(progress, 'utf8').catch(() => '0'));
    let last = -1;
    let since = Date.now();
    const stalledAt = await eventually(async () => {
      const now = await readProgress();
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (now > 0 && Date.now() - since >= 1_000) {
        return now;
      }
      await new Promise((r) => setTimeout(r, 100));
      return undefined;
    }, 20_000);
    expect(stalledAt).toBeLessThan(12 * 1024 * 1024);
    let received = 0;
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (f: ExecResponse) => {
        if (f.event.case === 'stdout') received += f.event.value.byteLength;
        if (f.event.case === 'exit') resolve();
      });
      call.on('error', reject);
    });
    call.resume();
    call.end();
    await done;
    expect(received).toBe(total);
  });
});

describe('signals and exit', () => {
  it('0x03 on stdin interrupts the foreground program through the line discipline', async () => {
    const call = exec(argv('sleep', '60'));
    await frameWhere(call, started);
    keys(call, Buffer.from([0x03]));
    const end = await ending(call);
    expect(end.exit).toMatchObject({ exitCode: 130, signal: 'SIGINT', timedOut: false });
  });

  it('0x03 interrupts the foreground job of an interactive shell, and the shell goes on', async () => {
    const call = exec(argv('bash', '--norc', '--noprofile', '-i'));
    const out = output(call);
    await frameWhere(call, started);
    // The job announces itself and replaces its shell with sleep: SIGINT ends either with 130.
    keys(call, 'sh -c "echo SLEE""PING; exec sleep 60"\n');
    await out.waitFor('SLEEPING\r\n');
    keys(call, Buffer.from([0x03]));
    await out.waitFor('^C\r\n'); // the terminal's echo of the interrupt
    keys(call, 'echo "after=$?"\n');
    await out.waitFor('after=130\r\n');
    keys(call, 'exit 4\n');
    const end = await ending(call);
    expect(end.exit?.exitCode).toBe(4);
  });

  it('reports exit codes, signals from signal frames, and a missing program as for plain exec', async () => {
    const code = await ending(exec(shell('exit 3')));
    expect(code.exit).toMatchObject({ exitCode: 3, signal: '' });
    // Killed by someone else's SIGKILL (the OOM killer's, say): the relay dies the same way.
    const selfKilled = await ending(exec(shell('kill -KILL $$')));
    expect(selfKilled.exit).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });

    const call = exec(argv('sleep', '60'));
    await frameWhere(call, started);
    call.write({ frame: { case: 'signal', value: Signal.TERM } });
    const termed = await ending(call);
    expect(termed.exit).toMatchObject({ exitCode: 143, signal: 'SIGTERM' });

    const killed = exec(argv('sleep', '60'));
    await frameWhere(killed, started);
    killed.write({ frame: { case: 'signal', value: Signal.KILL } });
    expect((await ending(killed)).exit).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });

    const missing = await execResult(exec(argv('no-such-program-xyz')));
    expect(missing.error?.code).toBe(status.NOT_FOUND);
    expect(missing.error?.details).toMatch(/executable 'no-such-program-xyz' not found/);
    expect(missing.frames).toHaveLength(0);

    await writeFile(join(agent.dir, 'not-executable.sh'), '#!/bin/sh\necho no\n', { mode: 0o644 });
    const refused = await execResult(exec(argv('./not-executable.sh')));
    expect(refused.error?.code).toBe(status.PERMISSION_DENIED);
    expect(refused.frames).toHaveLength(0);
  });

  it('ends with the program: a background job still holding the terminal gets SIGHUP', async () => {
    const call = exec(shell('sleep 60 & echo "bg=$!"; exit 5'));
    const out = output(call);
    const end = await ending(call);
    expect(end.exit).toMatchObject({ exitCode: 5, signal: '' });
    const bg = Number(/bg=(\d+)/.exec(out.bytes().toString())?.[1]);
    await eventually(() => (alive(bg) ? undefined : true), 10_000);
  });

  it('a timeout ends an interactive shell that moved itself to a process group of its own', async () => {
    const call = exec({ ...argv('bash', '--norc', '--noprofile', '-i'), timeoutMs: 3_000 });
    const out = output(call);
    await frameWhere(call, started);
    keys(call, 'echo "pid=$$ pgid=$(ps -o pgid= $$)"\n');
    await eventually(
      () => (/pid=\d+ pgid=\s*\d+\r\n/.test(out.bytes().toString()) ? true : undefined),
      20_000,
    );
    const [, pid = '0', pgid = '0'] = /pid=(\d+) pgid=\s*(\d+)\r\n/.exec(out.bytes().toString()) ?? [];
    expect(pgid).toBe(pid); // bash leads its own group: the group signals do not reach it
    const end = await ending(call);
    expect(end.exit?.timedOut).toBe(true);
    await eventually(() => (alive(Number(pid)) ? undefined : true), 10_000); // the hang-up did
  });

  it('a timeout and a cancelled call kill the program', async () => {
    const timed = await ending(exec({ ...argv('sleep', '60'), timeoutMs: 300 }));
    // SIGTERM first, as for plain exec (the test agent's grace is 200 ms; sleep obeys it).
    expect(timed.exit).toMatchObject({ timedOut: true, exitCode: 143, signal: 'SIGTERM' });

    const call = exec(shell('echo $$; exec sleep 60'));
    const out = output(call);
    await out.waitFor('\r\n');
    const programPid = Number(out.bytes().toString().trim());
    expect(alive(programPid)).toBe(true);
    call.on('error', () => undefined); // CANCELLED, as asked
    call.cancel();
    await eventually(() => (alive(programPid) ? undefined : true), 10_000);
  });
});

describe('nothing new for the process', () => {
  it('sees the same signal dispositions, ids, capabilities, cwd and env as with plain exec, and only fds 0-2', async () => {
    const probe = {
      ...shell(
        "grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]+|Sig(Ign|Blk)|NoNewPrivs|Seccomp):' /proc/self/status; " +
          'pwd; umask; ulimit -n; env | sort; echo FDS; ls -1 /proc/self/fd',
      ),
      env: { TERM: 'xterm' },
    };
    const plainCall = exec(probe, null, false);
    plainCall.end();
    const plain = await execResult(plainCall);
    const ttyCall = exec(probe);
    const tty = output(ttyCall);
    await ending(ttyCall);
    expect(plain.exit?.exitCode).toBe(0);
    const [ttyState, ttyFds] = tty.bytes().toString().replaceAll('\r\n', '\n').split('FDS\n');
    // Equal to plain exec's, not all zero: both inherit what the agent's own parent ignored (a
    // test run under nohup or make may ignore some), and the relay's own ignores must not leak.
    expect(ttyState).toBe(plain.stdout.split('FDS\n')[0]);
    expect(ttyState).toMatch(/^SigIgn:\s+[0-9a-f]+$/m);
    // 0-2 are the terminal, 3 is ls's own listing of the directory: nothing of the agent's.
    expect(ttyFds).toBe('0\n1\n2\n3\n');
  });

  it('adds no variable of its own, even without a locale (Python would add LC_CTYPE)', async () => {
    // The agent captures its environment when it starts: start one without locale variables.
    const locale = Object.entries(process.env).filter(([name]) => /^(LANG|LANGUAGE|LC_.*)$/.test(name));
    for (const [name] of locale) Reflect.deleteProperty(process.env, name);
    const bare = await startTestAgent().finally(() => Object.assign(process.env, Object.fromEntries(locale)));
    try {
      const probe = { ...shell('env | sort'), env: { TERM: 'xterm' } };
      const plainCall = startExec(bare.client, probe);
      plainCall.end();
      const plain = await execResult(plainCall);
      expect(plain.stdout).not.toMatch(/^(LANG|LC_[A-Z]+)=/m);
      const ttyCall = startExec(bare.client, probe, { stdin: true, tty: { rows: 24, cols: 80 } });
      const tty = output(ttyCall);
      await ending(ttyCall);
      expect(tty.bytes().toString().replaceAll('\r\n', '\n')).toBe(plain.stdout);
    } finally {
      await bare.close();
    }
  });
});
