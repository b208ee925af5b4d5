/**
 * ExecService.Exec against real processes over a real loopback gRPC connection: output,
 * stdin, signals to the process group, timeouts that kill grandchildren, cancellation,
 * backpressure with a slow reader, truncation, secret masking, the process cap, and every
 * protocol mistake a client can make.
 */
import { readFile } from 'node:fs/promises';
import { jest } from '@jest/globals';
import { join } from 'node:path';
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
} from '../helpers/calls.js';
import type { ExecCall, ExecOptions, Spec } from '../helpers/calls.js';
import { startTestAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';

jest.setTimeout(20_000);

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent({ SANDBANK_AGENT_MAX_PROCESSES: '8' });
});
afterAll(async () => agent.close());

const exec = (spec: Spec, options: ExecOptions = {}): ExecCall => startExec(agent.client, spec, options);

const pidOf = (f: ExecResponse): number => (f.event.case === 'started' ? f.event.value.pid : 0);

/**
 * The first stdout line, once it has arrived (used to learn a grandchild's pid). Rejects if the
 * call ends first, so a test that missed its line fails with a reason instead of hanging.
 */
function firstLine(call: ExecCall): Promise<string> {
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (f: ExecResponse): void => {
      if (f.event.case === 'stdout') text += Buffer.from(f.event.value).toString();
      const newline = text.indexOf('\n');
      if (newline >= 0) {
        call.off('data', onData);
        resolve(text.slice(0, newline));
      } else if (f.event.case === 'exit') {
        reject(new Error(`the process exited before printing a line: ${JSON.stringify(text)}`));
      }
    };
    call.on('data', onData);
    call.once('error', reject);
  });
}

describe('output and exit', () => {
  it('runs argv without a shell and reports started, stdout and a clean exit', async () => {
    const call = exec(argv('echo', 'hello', '$HOME'));
    call.end();
    const r = await execResult(call);
    expect(r.error).toBeUndefined();
    expect(r.frames[0]?.event.case).toBe('started');
    expect(r.frames.at(-1)?.event.case).toBe('exit');
    expect(r.pid).toBeGreaterThan(1);
    expect(r.stdout).toBe('hello $HOME\n');
    expect(r.exit).toMatchObject({ exitCode: 0, signal: '', timedOut: false, stdoutTruncated: false });
  });

  it('runs a shell line with env, cwd and both streams, and reports the exit code', async () => {
    await import('node:fs/promises').then((fs) => fs.mkdir(join(agent.dir, 'sub')));
    const call = exec({
      ...shell('echo "$GREETING from $(pwd)"; echo oops >&2; exit 3'),
      env: { GREETING: 'hi' },
      cwd: 'sub',
    });
    call.end();
    const r = await execResult(call);
    expect(r.stdout).toBe(`hi from ${join(agent.dir, 'sub')}\n`);
    expect(r.stderr).toBe('oops\n');
    expect(r.exit?.exitCode).toBe(3);
  });

  it("does not leak the agent's own settings into the process environment", async () => {
    process.env['SANDBANK_AGENT_PROBE'] = 'agent-only';
    try {
      const call = exec(argv('env'));
      call.end();
      const r = await execResult(call);
      expect(r.stdout).toContain('PATH=');
      // createAgentDeps captured the environment at start; the probe set now must not appear either way.
      expect(r.stdout).not.toContain('SANDBANK_AGENT_');
    } finally {
      delete process.env['SANDBANK_AGENT_PROBE'];
    }
  });

  it('truncates each stream at max_output_bytes without killing the process', async () => {
    const call = exec(shell('head -c 100000 /dev/zero; head -c 5 /dev/zero >&2; echo done >&2'), {
      maxOutputBytes: 1000n,
    });
    call.end();
    const r = await execResult(call);
    expect(r.stdout.length).toBe(1000);
    expect(r.stderr).toBe('\0\0\0\0\0done\n');
    expect(r.exit).toMatchObject({ exitCode: 0, stdoutTruncated: true, stderrTruncated: false });
  });

  it('masks secret values in stdout and stderr, also when split across writes', async () => {
    const secret = 's3cr3t-V4lue';
    const call = exec({
      ...shell(
        'echo "token=$TOKEN"; printf "s3cr"; sleep 0.1; printf "3t-V4lue!\\n"; echo "$TOKEN$TOKEN" >&2; printf s3c',
      ),
      secretEnv: { TOKEN: secret },
    });
    call.end();
    const r = await execResult(call);
    expect(r.stdout).toBe('token=***\n***!\ns3c');
    expect(r.stderr).toBe('******\n');
    expect(r.stdout + r.stderr).not.toContain(secret);
  });
});

describe('stdin', () => {
  it('round-trips stdin chunks, binary included, and ends on close_stdin', async () => {
    const call = exec(argv('cat'), { stdin: true });
    const result = execResult(call);
    const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    call.write({ frame: { case: 'stdin', value: Buffer.from('hello ') } });
    call.write({ frame: { case: 'stdin', value: allBytes } });
    call.write({ frame: { case: 'stdin', value: Buffer.from(' world') } });
    call.write({ frame: { case: 'closeStdin', value: {} } });
    const r = await result;
    call.end();
    const stdout = Buffer.concat(
      r.frames.flatMap((f) => (f.event.case === 'stdout' ? [Buffer.from(f.event.value)] : [])),
    );
    expect(stdout).toEqual(Buffer.concat([Buffer.from('hello '), allBytes, Buffer.from(' world')]));
    expect(r.exit?.exitCode).toBe(0);
  });

  it('closes stdin when the client half-closes, and the output still arrives', async () => {
    const call = exec(argv('wc', '-c'), { stdin: true });
    call.write({ frame: { case: 'stdin', value: Buffer.alloc(12345) } });
    call.end();
    const r = await execResult(call);
    expect(r.stdout.trim()).toBe('12345');
  });

  it('gives EOF at once without stdin, and refuses stdin frames then', async () => {
    const quiet = exec(argv('cat'));
    quiet.end();
    expect((await execResult(quiet)).exit?.exitCode).toBe(0);

    const call = exec(argv('sleep', '30'));
    const pid = pidOf(await frameWhere(call, started));
    call.write({ frame: { case: 'stdin', value: Buffer.from('x') } });
    const r = await execResult(call);
    expect(r.error?.code).toBe(status.FAILED_PRECONDITION);
    expect(r.error?.details).toMatch(/stdin/);
    await eventually(() => (alive(pid) ? undefined : true));
  });

  it('refuses stdin after close_stdin', async () => {
    const call = exec(argv('sleep', '30'), { stdin: true });
    await frameWhere(call, started);
    call.write({ frame: { case: 'closeStdin', value: {} } });
    call.write({ frame: { case: 'stdin', value: Buffer.from('late') } });
    const r = await execResult(call);
    expect(r.error?.code).toBe(status.FAILED_PRECONDITION);
  });
});

describe('signals', () => {
  const trapping = (sig: string): Spec =>
    shell(`trap 'echo caught ${sig}; exit 7' ${sig}; echo ready; while :; do sleep 0.05; done`);

  it.each([
    ['INT', Signal.INT],
    ['TERM', Signal.TERM],
    ['HUP', Signal.HUP],
  ] as const)('delivers SIG%s to the process group', async (name, signal) => {
    const call = exec(trapping(name));
    expect(await firstLine(call)).toBe('ready');
    call.write({ frame: { case: 'signal', value: signal } });
    call.end();
    const r = await execResult(call);
    expect(r.stdout).toContain(`caught ${name}`);
    expect(r.exit?.exitCode).toBe(7);
  });

  it('reports a death by signal as 128+n with its name', async () => {
    const call = exec(shell('echo ready; sleep 30'));
    expect(await firstLine(call)).toBe('ready');
    call.write({ frame: { case: 'signal', value: Signal.KILL } });
    call.end();
    const r = await execResult(call);
    expect(r.exit).toMatchObject({ exitCode: 137, signal: 'SIGKILL', timedOut: false });
  });

  it('refuses an unknown signal and kills the process', async () => {
    const call = exec(argv('sleep', '30'));
    const pid = pidOf(await frameWhere(call, started));
    call.write({ frame: { case: 'signal', value: Signal.UNSPECIFIED } });
    const r = await execResult(call);
    expect(r.error?.code).toBe(status.INVALID_ARGUMENT);
    await eventually(() => (alive(pid) ? undefined : true));
  });
});

describe('timeouts and cancellation', () => {
  it('kills the whole group, grandchildren that ignore SIGTERM included, when timeout_ms passes', async () => {
    // The shell must set its trap and print the pid before the timeout: 2 s is ample on a busy
    // machine (it takes milliseconds), and the test waits on the exit event, not on the clock.
    const timeoutMs = 2_000;
    const call = exec({
      ...shell('trap "" TERM; (trap "" TERM; exec sleep 60) & echo $!; wait'),
      timeoutMs,
    });
    const grandchild = Number(await firstLine(call));
    expect(alive(grandchild)).toBe(true);
    call.end();
    const r = await execResult(call);
    expect(r.exit).toMatchObject({ timedOut: true, signal: 'SIGKILL', exitCode: 137 });
    expect(r.exit?.durationMs).toBeGreaterThanOrEqual(timeoutMs);
    await eventually(() => (alive(grandchild) ? undefined : true));
  });

  it('ends a process that exits on SIGTERM within the grace period with SIGTERM', async () => {
    const call = exec({ ...argv('sleep', '60'), timeoutMs: 200 });
    call.end();
    const r = await execResult(call);
    expect(r.exit).toMatchObject({ timedOut: true, signal: 'SIGTERM', exitCode: 143 });
  });

  it('kills the process group when the client cancels', async () => {
    const call = exec(shell('sleep 60 & echo $!; wait'));
    const leader = frameWhere(call, started).then(pidOf);
    const grandchild = Number(await firstLine(call));
    call.on('error', () => undefined);
    call.cancel();
    const pid = await leader;
    await eventually(() => (alive(grandchild) || alive(pid) ? undefined : true));
  });

  it("kills the process group when the call's deadline passes", async () => {
    // Long enough for the pid line to arrive first on a busy machine; far below the sleep.
    const call = exec(shell('sleep 60 & echo $!; wait'), { deadlineMs: 3_000 });
    const grandchild = Number(await firstLine(call));
    const r = await execResult(call);
    expect(r.error?.code).toBe(status.DEADLINE_EXCEEDED);
    await eventually(() => (alive(grandchild) ? undefined : true));
  });
});

describe('backpressure', () => {
  it('a slow reader stalls the process instead of the agent buffering its output', async () => {
    const progress = join(agent.dir, 'progress');
    const total = 64 * 1024 * 1024;
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
    call.pause(); // the client stops reading
    const readProgress = async (): Promise<number> =>
      Number(await readFile(progress, 'utf8').catch(() => '0'));
    // Wait until the writer is stuck: its progress has not moved for a whole second (several
    // samples), so a writer that merely lost the CPU for a moment on a busy machine is not
    // mistaken for a stalled one.
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
    }, 15_000);
    // Pipe, queue, gRPC and loopback socket buffers together hold a few MiB, not 64.
    expect(stalledAt).toBeLessThan(16 * 1024 * 1024);

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

describe('limits', () => {
  it('answers RESOURCE_EXHAUSTED past the process cap, and takes work again once one ends', async () => {
    const capped = await startTestAgent({ SANDBANK_AGENT_MAX_PROCESSES: '2' });
    try {
      const open: ExecCall[] = [];
      for (let i = 0; i < 2; i++) {
        const call = capped.client.exec();
        call.on('error', () => undefined);
        call.write({ frame: { case: 'start', value: { process: argv('sleep', '60') } } });
        await frameWhere(call, started);
        open.push(call);
      }
      const third = capped.client.exec();
      third.write({ frame: { case: 'start', value: { process: argv('true') } } });
      const r = await execResult(third);
      expect(r.error?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(r.error?.details).toMatch(/too many processes/);

      open[0]?.cancel();
      await eventually(() => (capped.deps.runner.size < 2 ? true : undefined));
      const fourth = capped.client.exec();
      fourth.write({ frame: { case: 'start', value: { process: argv('true') } } });
      fourth.end();
      expect((await execResult(fourth)).exit?.exitCode).toBe(0);
      open[1]?.cancel();
    } finally {
      await capped.close();
    }
  });
});

describe('bad requests get a clear status, never a hang', () => {
  beforeAll(async () => {
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(join(agent.dir, 'data.txt'), 'not a program', { mode: 0o644 }),
    );
  });

  const startWith = (process: object | undefined, extra: object = {}): ExecCall => {
    const call = agent.client.exec();
    call.write({ frame: { case: 'start', value: { process, ...extra } } } as never);
    call.end();
    return call;
  };

  it.each([
    ['no process', undefined, status.INVALID_ARGUMENT, /process is required/],
    ['no command', { env: {} }, status.INVALID_ARGUMENT, /command is required/],
    ['empty argv', argv(), status.INVALID_ARGUMENT, /argv is empty/],
    ['blank shell', shell('  '), status.INVALID_ARGUMENT, /shell is empty/],
    ['NUL in argv', argv('echo', 'a\0b'), status.INVALID_ARGUMENT, /NUL/],
    ['env name with =', { ...argv('true'), env: { 'A=B': 'x' } }, status.INVALID_ARGUMENT, /env: name 'A=B'/],
    [
      'env in both maps',
      { ...argv('true'), env: { K: '1' }, secretEnv: { K: '2' } },
      status.INVALID_ARGUMENT,
      /both/,
    ],
    ['missing executable', argv('no-such-program-xyz'), status.NOT_FOUND, /no-such-program-xyz/],
    ['not executable', argv('./data.txt'), status.PERMISSION_DENIED, /not executable/],
    ['cwd outside', { ...argv('true'), cwd: '../..' }, status.PERMISSION_DENIED, /outside the workspace/],
    [
      'cwd absolute outside',
      { ...argv('true'), cwd: '/etc' },
      status.PERMISSION_DENIED,
      /outside the workspace/,
    ],
    ['cwd missing', { ...argv('true'), cwd: 'nope' }, status.NOT_FOUND, /cwd 'nope' does not exist/],
  ])('%s', async (_name, process, code, message) => {
    const r = await execResult(startWith(process));
    expect(r.error?.code).toBe(code);
    expect(r.error?.details).toMatch(message);
    expect(r.frames).toHaveLength(0);
  });

  it('a cwd that is a file', async () => {
    await import('node:fs/promises').then((fs) => fs.writeFile(join(agent.dir, 'plain'), 'x'));
    const r = await execResult(startWith({ ...argv('true'), cwd: 'plain' }));
    expect(r.error?.code).toBe(status.FAILED_PRECONDITION);
  });

  it('tty runs the process on a terminal (exec-tty.test.ts tests it in depth)', async () => {
    const r = await execResult(startWith(argv('tty'), { tty: { cols: 80, rows: 24 } }));
    expect(r.error).toBeUndefined();
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
    expect(r.exit?.exitCode).toBe(0);
  });

  it('a first frame that is not start', async () => {
    const call = agent.client.exec();
    call.write({ frame: { case: 'stdin', value: Buffer.from('x') } });
    const r = await execResult(call);
    expect(r.error).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'the first frame must be start',
    });
  });

  it('a stream that ends before start', async () => {
    const call = agent.client.exec();
    call.end();
    const r = await execResult(call);
    expect(r.error?.code).toBe(status.INVALID_ARGUMENT);
  });

  it('an empty frame, a second start and a resize without tty end the call and kill the process', async () => {
    for (const frame of [
      { case: undefined },
      { case: 'start', value: {} },
      { case: 'resize', value: { cols: 1, rows: 1 } },
    ]) {
      const call = exec(argv('sleep', '30'));
      const pid = pidOf(await frameWhere(call, started));
      call.write({ frame } as never);
      const r = await execResult(call);
      expect([status.INVALID_ARGUMENT, status.FAILED_PRECONDITION]).toContain(r.error?.code);
      await eventually(() => (alive(pid) ? undefined : true));
    }
  });
});
