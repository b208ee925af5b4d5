/**
 * BackgroundRegistry with scripted processes: the running cap, the retained cap with the oldest
 * finished process evicted first, and the memory budget all rings share (finished processes
 * evicted to make room, running ones never; rings that cannot grow drop old bytes sooner). Also
 * the settings that size it, and the errors naming a bad one.
 */
import { loadConfig } from '../../src/config.js';
import { AgentError } from '../../src/errors.js';
import { BackgroundRegistry, COMMAND_SUMMARY_CHARS } from '../../src/process/background.js';
import type { BackgroundLimits, Supervised } from '../../src/process/background.js';
import type { OutputChunk } from '../../src/process/output-queue.js';
import type { ExitInfo } from '../../src/process/process.js';
import type { TerminalSize } from '../../src/process/pty.js';

const KiB = 1024;

/** A process whose output and exit the test drives. */
class Scripted implements Supervised {
  static nextPid = 1000;
  readonly pid = Scripted.nextPid++;
  readonly exited: Promise<ExitInfo>;
  private readonly pending: OutputChunk[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private finish!: (exit: ExitInfo) => void;

  constructor() {
    this.exited = new Promise((resolve) => (this.finish = resolve));
  }

  readonly output: AsyncIterable<OutputChunk> = {
    [Symbol.asyncIterator]: async function* (this: Scripted) {
      for (;;) {
        const chunk = this.pending.shift();
        if (chunk) yield chunk;
        else if (this.ended) return;
        else await new Promise<void>((resolve) => (this.wake = resolve));
      }
    }.bind(this),
  };

  emit(bytes: number, stream: OutputChunk['stream'] = 'stdout'): void {
    this.pending.push({ stream, data: Buffer.alloc(bytes, 'x') });
    this.wake?.();
  }

  exit(code = 0): void {
    this.ended = true;
    this.wake?.();
    this.finish({
      exitCode: code,
      signal: '',
      timedOut: false,
      oomKilled: false,
      stdoutTruncated: false,
      stderrTruncated: false,
      durationMs: 1,
    });
  }

  writeStdin = (): Promise<boolean> => Promise.resolve(true);
  closeStdin = (): void => undefined;
  signal = (): void => undefined;
}

function registry(limits: Partial<BackgroundLimits> = {}): BackgroundRegistry {
  return new BackgroundRegistry({
    maxRunning: 4,
    maxRetained: 8,
    bufferBytes: 256 * KiB,
    totalBufferBytes: 1024 * KiB,
    ...limits,
  });
}

async function start(reg: BackgroundRegistry, argv: string[] = ['job']) {
  const proc = new Scripted();
  const bp = await reg.start({ argv, stdin: false, spawn: () => Promise.resolve(proc) });
  return { bp, proc };
}

/** Lets the registry's pumps take what the scripted processes emitted. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function refusal(promise: Promise<unknown>): Promise<AgentError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AgentError)) throw new Error(`expected an AgentError, got ${String(error)}`);
  return error;
}

describe('running and retained caps', () => {
  it('refuses one more running process, and counts one whose spawn is still under way', async () => {
    const reg = registry({ maxRunning: 2 });
    await start(reg);
    let release!: () => void;
    const slow = new Scripted();
    const spawning = reg.start({
      argv: ['slow'],
      stdin: false,
      spawn: () => new Promise<Supervised>((resolve) => (release = () => resolve(slow))),
    });
    const error = await refusal(start(reg));
    expect(error.code).toBe('resource_exhausted');
    expect(error.message).toMatch(/2 are running/);
    release();
    await spawning;
    expect(reg.running).toBe(2);
  });

  it('evicts the finished process that ended first, not the one started first', async () => {
    const reg = registry({ maxRunning: 3, maxRetained: 3 });
    const a = await start(reg);
    const b = await start(reg);
    const c = await start(reg);
    b.proc.exit();
    await b.bp.done;
    a.proc.exit();
    await a.bp.done;
    await start(reg); // evicts b, which ended first
    expect(reg.list().map((p) => p.id)).toEqual([a.bp.id, c.bp.id, expect.any(String)]);
    expect(() => reg.get(b.bp.id)).toThrow(/no background process/);
  });

  it('gives the memory of a failed spawn back and keeps nothing', async () => {
    const reg = registry();
    const failing = reg.start({
      argv: ['x'],
      stdin: false,
      spawn: () => Promise.reject(new AgentError('not_found', 'no such program')),
    });
    expect((await refusal(failing)).code).toBe('not_found');
    expect(reg.list()).toEqual([]);
    expect(reg.bufferBytes).toBe(0);
    expect(reg.running).toBe(0);
  });

  it('removes only finished processes, and frees their memory', async () => {
    const reg = registry();
    const { bp, proc } = await start(reg);
    expect(() => reg.remove(bp.id)).toThrow(/still running/);
    proc.emit(1000);
    proc.exit();
    await bp.done;
    expect(reg.bufferBytes).toBe(1000); // shrunk to what is retained at exit
    reg.remove(bp.id);
    expect(reg.bufferBytes).toBe(0);
  });

  it('summarises a long command to a bounded line', async () => {
    const reg = registry();
    const { bp } = await start(reg, ['echo', 'y'.repeat(1000)]);
    expect(bp.command.length).toBe(COMMAND_SUMMARY_CHARS);
    expect(bp.command.startsWith('echo yyy')).toBe(true);
    expect(bp.command.endsWith('…')).toBe(true);
  });
});

describe('stdin', () => {
  it('refuses a write whose bytes the pipe never took, and still applies the writes after it', async () => {
    const reg = registry();
    const taken: string[] = [];
    const proc = Object.assign(new Scripted(), {
      // The pipe goes away under the first write (the process died with its pipe full).
      writeStdin: (data: Uint8Array) => {
        const text = Buffer.from(data).toString();
        if (text !== 'lost') taken.push(text);
        return Promise.resolve(text !== 'lost');
      },
    });
    const bp = await reg.start({ argv: ['cat'], stdin: true, spawn: () => Promise.resolve(proc) });
    const lost = refusal(bp.writeStdin(Buffer.from('lost'), false));
    const next = bp.writeStdin(Buffer.from('next'), false);
    const error = await lost;
    expect(error.code).toBe('failed_precondition');
    expect(error.message).toMatch(/before it read these 4 bytes/);
    await next;
    expect(taken).toEqual(['next']);
    proc.exit();
  });
});

describe('terminals', () => {
  it('resizes a process that has a terminal, and refuses one without or one that exited', async () => {
    const reg = registry();
    const sizes: TerminalSize[] = [];
    const tty = Object.assign(new Scripted(), {
      resize: (size: TerminalSize) => Promise.resolve(void sizes.push(size)),
    });
    const withTty = await reg.start({ argv: ['sh'], stdin: true, spawn: () => Promise.resolve(tty) });
    await withTty.resize({ cols: 120, rows: 40 });
    expect(sizes).toEqual([{ cols: 120, rows: 40 }]);
    const { bp: plain } = await start(reg);
    await expect(plain.resize({ cols: 80, rows: 24 })).rejects.toThrow(/no tty/);
    tty.exit();
    await withTty.done;
    await expect(withTty.resize({ cols: 80, rows: 24 })).rejects.toThrow(/exited/);
  });

  it('applies a resize after the stdin writes accepted before it, and before those after it', async () => {
    const reg = registry();
    const events: string[] = [];
    let takeFirst!: () => void;
    const firstTaken = new Promise<void>((resolve) => (takeFirst = resolve));
    const tty = Object.assign(new Scripted(), {
      // The first write is held (a full pipe) until the test lets it through.
      writeStdin: async (data: Uint8Array) => {
        if (events.length === 0) await firstTaken;
        events.push(`stdin ${Buffer.from(data).toString()}`);
        return true;
      },
      resize: (size: TerminalSize) => Promise.resolve(void events.push(`resize ${size.cols}x${size.rows}`)),
    });
    const bp = await reg.start({ argv: ['sh'], stdin: true, spawn: () => Promise.resolve(tty) });
    const all = [
      bp.writeStdin(Buffer.from('a'), false),
      bp.resize({ cols: 90, rows: 30 }),
      bp.writeStdin(Buffer.from('b'), false),
    ];
    expect(events).toEqual([]);
    takeFirst();
    await Promise.all(all);
    expect(events).toEqual(['stdin a', 'resize 90x30', 'stdin b']);
    tty.exit();
  });
});

describe('the memory budget of all rings', () => {
  it('evicts finished processes for a running one, and refuses when only running ones are left', async () => {
    const reg = registry({ bufferBytes: 128 * KiB, totalBufferBytes: 256 * KiB });
    const a = await start(reg);
    a.proc.emit(128 * KiB);
    a.proc.exit();
    await a.bp.done;
    const b = await start(reg);
    b.proc.emit(128 * KiB);
    await settle();
    expect(reg.bufferBytes).toBe(256 * KiB);
    const c = await start(reg); // needs 64 KiB: a (finished) is evicted for it
    expect(() => reg.get(a.bp.id)).toThrow(/no background process/);
    expect(reg.bufferBytes).toBe(192 * KiB);
    await start(reg); // the last 64 KiB
    const error = await refusal(start(reg));
    expect(error.code).toBe('resource_exhausted');
    expect(error.message).toMatch(/every retained process is running/);
    // A running ring that cannot grow keeps running and keeps its newest bytes.
    c.proc.emit(100 * KiB);
    await settle();
    expect(c.bp.ring.allocated).toBe(64 * KiB);
    expect([c.bp.ring.first, c.bp.ring.end]).toEqual([36 * KiB, 100 * KiB]);
    expect(reg.bufferBytes).toBeLessThanOrEqual(256 * KiB);
  });

  it('never allocates more than the ring size per process, however small', async () => {
    const reg = registry({ bufferBytes: 1000 });
    const { bp, proc } = await start(reg);
    expect(reg.bufferBytes).toBe(1000);
    proc.emit(5000);
    await settle();
    expect(bp.ring.allocated).toBe(1000);
    expect(bp.ring.end - bp.ring.first).toBe(1000);
  });
});

describe('settings', () => {
  const open = { SANDBANK_AGENT_INSECURE_NO_AUTH: 'true' };

  it('defaults to 32 running, 128 retained, 8 MiB per process and 64 MiB in all', () => {
    expect(loadConfig(open).background).toEqual({
      maxRunning: 32,
      maxRetained: 128,
      bufferBytes: 8 * 1024 * KiB,
      totalBufferBytes: 64 * 1024 * KiB,
    });
  });

  it.each([
    ['SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES', '0'],
    ['SANDBANK_AGENT_MAX_RETAINED_PROCESSES', 'many'],
    ['SANDBANK_AGENT_PROCESS_BUFFER_BYTES', '-1'],
    ['SANDBANK_AGENT_PROCESS_BUFFER_TOTAL_BYTES', '1.5'],
  ])('refuses %s=%s, naming it', (name, value) => {
    expect(() => loadConfig({ ...open, [name]: value })).toThrow(new RegExp(`${name}: `));
  });

  it('refuses fewer retained than running processes, naming both', () => {
    expect(() =>
      loadConfig({
        ...open,
        SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES: '10',
        SANDBANK_AGENT_MAX_RETAINED_PROCESSES: '5',
      }),
    ).toThrow(
      /SANDBANK_AGENT_MAX_RETAINED_PROCESSES: must be at least SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES/,
    );
  });
});
