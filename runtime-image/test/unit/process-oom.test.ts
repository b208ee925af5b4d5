import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cgroupOomWatch,
  findOomCounter,
  judgeOomKill,
  ownCgroupPaths,
  parseOomKillCount,
} from '../../src/process/oom.js';
import type { OomCounter, OomEvidence, OomWatch } from '../../src/process/oom.js';
import { spawnProcess } from '../../src/process/process.js';
import { spawnPtyProcess } from '../../src/process/pty.js';
import type { ProcessRequest } from '../../src/process/process.js';

const base: Omit<ProcessRequest, 'argv'> = {
  env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  cwd: '/',
  timeoutMs: 0,
  killGraceMs: 0,
  stdin: false,
};
const selfKill = ['sh', '-c', 'kill -KILL $$'] as const;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sandbank-oom-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A memory.events as cgroup v2 writes it, with `kills` OOM kills. */
const events = (kills: number): string =>
  `low 0\nhigh 0\nmax ${kills}\noom ${kills}\noom_kill ${kills}\noom_group_kill 0\n`;

describe('judgeOomKill: the decision from the wait status and the counter around the process', () => {
  const killed: OomEvidence = { signal: 'SIGKILL', killedByAgent: false, before: 3, after: 4, blamedUpTo: 0 };

  it('blames a SIGKILL the agent did not send when a kill was counted since the spawn', () => {
    expect(judgeOomKill(killed)).toEqual({ oomKilled: true, blamedUpTo: 4 });
  });

  it.each<[string, Partial<OomEvidence>]>([
    ['no kill counted in the window', { after: 3 }],
    ['a normal exit', { signal: null }],
    ['another signal (the OOM killer only sends SIGKILL)', { signal: 'SIGTERM' }],
    ['a SIGKILL the agent sent (timeout, caller, shutdown)', { killedByAgent: true }],
    ['no baseline (counter unreadable at the spawn)', { before: undefined }],
    ['no reading after the death', { after: undefined }],
    ['a counter that went backwards (not the same cgroup)', { before: 5, after: 4 }],
    ['a kill already blamed on another process', { blamedUpTo: 4 }],
  ])('is false for %s', (_, change) => {
    const evidence = { ...killed, ...change };
    expect(judgeOomKill(evidence)).toEqual({ oomKilled: false, blamedUpTo: evidence.blamedUpTo });
  });

  it('spends one kill per process: two kills can be blamed on two processes, not three', () => {
    let blamedUpTo = 0;
    const verdicts = [1, 2, 3].map(() => {
      const v = judgeOomKill({ ...killed, before: 0, after: 2, blamedUpTo });
      blamedUpTo = v.blamedUpTo;
      return v.oomKilled;
    });
    expect(verdicts).toEqual([true, true, false]);
  });
});

describe('reading the counter', () => {
  it('parses the oom_kill line of cgroup v2 memory.events and v1 memory.oom_control', () => {
    expect(parseOomKillCount(events(7))).toBe(7);
    expect(parseOomKillCount('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n')).toBe(2);
    expect(parseOomKillCount('oom_kill_disable 0\nunder_oom 0\n')).toBeUndefined(); // Linux < 4.13
    expect(parseOomKillCount('oom_kill -1\n')).toBeUndefined();
    expect(parseOomKillCount('oom_kill 99999999999999999999\n')).toBeUndefined();
  });

  it('takes the agent’s own cgroup from /proc/self/cgroup, ignoring paths it cannot trust', () => {
    expect(ownCgroupPaths('0::/h19\n')).toEqual({ v2: '/h19' });
    expect(ownCgroupPaths('12:cpu,cpuacct:/a\n4:memory:/kubepods/pod1/c1\n0::/\n')).toEqual({
      v2: '/',
      memory: '/kubepods/pod1/c1',
    });
    expect(ownCgroupPaths('0::/../../etc\n4:memory:relative\n')).toEqual({});
  });

  it('finds v2 at the agent’s own cgroup first, then at the root, then v1', () => {
    mkdirSync(join(dir, 'pod', 'c1'), { recursive: true });
    mkdirSync(join(dir, 'memory'));
    writeFileSync(join(dir, 'memory', 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n');
    const v1 = { file: join(dir, 'memory', 'memory.oom_control'), kind: 'cgroup1' };
    expect(findOomCounter({ root: dir, procSelfCgroup: '4:memory:/\n' })).toEqual(v1);
    writeFileSync(join(dir, 'memory.events'), events(0));
    expect(findOomCounter({ root: dir, procSelfCgroup: '0::/\n' })).toEqual({
      file: join(dir, 'memory.events'),
      kind: 'cgroup2',
    });
    writeFileSync(join(dir, 'pod', 'c1', 'memory.events'), events(0));
    expect(findOomCounter({ root: dir, procSelfCgroup: '0::/pod/c1\n' })).toEqual({
      file: join(dir, 'pod', 'c1', 'memory.events'),
      kind: 'cgroup2',
    });
  });

  it('finds nothing where the cgroup has no OOM counter (gVisor’s v1 memory controller)', () => {
    mkdirSync(join(dir, 'memory'));
    writeFileSync(join(dir, 'memory', 'memory.limit_in_bytes'), '134217728\n');
    writeFileSync(join(dir, 'memory', 'memory.usage_in_bytes'), '2506752\n');
    expect(findOomCounter({ root: dir, procSelfCgroup: '6:memory:/sbx\n0::/\n' })).toBeUndefined();
  });
});

describe('a process killed by a SIGKILL, judged against a cgroup counter', () => {
  const counter = (): OomCounter => {
    const file = join(dir, 'memory.events');
    writeFileSync(file, events(0));
    return { file, kind: 'cgroup2' };
  };
  /** The process writes the counter (as the kernel would on an OOM kill) and dies of SIGKILL. */
  const oomLike = (file: string, kills: number): string[] => [
    'sh',
    '-c',
    `printf 'oom_kill ${kills}\\n' > '${file}'; kill -KILL $$`,
  ];

  it('is OOM-killed when a kill is counted while it runs', async () => {
    const c = counter();
    const proc = await spawnProcess({
      ...base,
      argv: oomLike(c.file, 1) as [string, ...string[]],
      oomWatch: cgroupOomWatch(c),
    });
    expect(await proc.exited).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: true });
  });

  it('is not blamed for a kill counted before it started', async () => {
    const c = counter();
    const watch = cgroupOomWatch(c);
    writeFileSync(c.file, events(1)); // an earlier kill (say of a grandchild) nobody was blamed for
    const proc = await spawnProcess({ ...base, argv: selfKill, oomWatch: watch });
    expect(await proc.exited).toMatchObject({ signal: 'SIGKILL', oomKilled: false });
  });

  it('one kill is blamed on one of two processes SIGKILLed in the same window, not both', async () => {
    const c = counter();
    const watch = cgroupOomWatch(c);
    const gate = join(dir, 'gate');
    const waitGate = `while [ ! -e '${gate}' ]; do sleep 0.05; done`;
    const procs = await Promise.all(
      [0, 1].map((i) =>
        spawnProcess({
          ...base,
          argv: [
            'sh',
            '-c',
            i === 0
              ? `${waitGate}; printf 'oom_kill 1\\n' > '${c.file}'; kill -KILL $$`
              : `${waitGate}; kill -KILL $$`,
          ],
          oomWatch: watch,
        }),
      ),
    );
    writeFileSync(gate, '');
    // Whichever closes its window after the kill was counted is blamed; never both.
    const exits = await Promise.all(procs.map((p) => p.exited));
    expect(exits.map((e) => e.signal)).toEqual(['SIGKILL', 'SIGKILL']);
    expect(exits.filter((e) => e.oomKilled)).toHaveLength(1);
  });

  it('is not OOM-killed when the agent sent the SIGKILL (timeout) while a kill was counted', async () => {
    const c = counter();
    const proc = await spawnProcess({
      ...base,
      argv: ['sh', '-c', `printf 'oom_kill 1\\n' > '${c.file}'; exec sleep 60`],
      timeoutMs: 300,
      oomWatch: cgroupOomWatch(c),
    });
    expect(await proc.exited).toMatchObject({ signal: 'SIGKILL', timedOut: true, oomKilled: false });
  });

  it('is not OOM-killed when the caller sent the SIGKILL while a kill was counted', async () => {
    const c = counter();
    const proc = await spawnProcess({
      ...base,
      argv: ['sh', '-c', `printf 'oom_kill 1\\n' > '${c.file}'; echo ready; exec sleep 60`],
      oomWatch: cgroupOomWatch(c),
    });
    for await (const chunk of proc.output) {
      if (Buffer.from(chunk.data).toString().includes('ready')) break;
    }
    proc.signal('SIGKILL');
    expect(await proc.exited).toMatchObject({ signal: 'SIGKILL', oomKilled: false });
  });

  it('is not OOM-killed when the counter vanished before the death', async () => {
    const c = counter();
    const proc = await spawnProcess({
      ...base,
      argv: ['sh', '-c', `rm '${c.file}'; kill -KILL $$`],
      oomWatch: cgroupOomWatch(c),
    });
    expect(await proc.exited).toMatchObject({ signal: 'SIGKILL', oomKilled: false });
  });
});

describe('a process on a terminal (tty), judged as plain exec is', () => {
  const size = { rows: 24, cols: 80 };

  it('is OOM-killed when a kill is counted while it runs', async () => {
    const file = join(dir, 'memory.events');
    writeFileSync(file, events(0));
    const proc = await spawnPtyProcess(
      {
        ...base,
        argv: ['sh', '-c', `printf 'oom_kill 1\\n' > '${file}'; kill -KILL $$`],
        oomWatch: cgroupOomWatch({ file, kind: 'cgroup2' }),
      },
      size,
    );
    expect(await proc.exited).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: true });
  });

  it('is not OOM-killed by a SIGKILL with no kill counted', async () => {
    const file = join(dir, 'memory.events');
    writeFileSync(file, events(0));
    const proc = await spawnPtyProcess(
      { ...base, argv: selfKill, oomWatch: cgroupOomWatch({ file, kind: 'cgroup2' }) },
      size,
    );
    expect(await proc.exited).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: false });
  });
});

// The window belongs to the process: a watch that fails must not leave its exit unreported.
describe('a process whose OOM window fails', () => {
  it('still exits, not OOM-killed, when closing the window rejects', async () => {
    const failing: OomWatch = { open: () => ({ close: () => Promise.reject(new Error('EIO')) }) };
    const proc = await spawnProcess({ ...base, argv: selfKill, oomWatch: failing });
    expect(await proc.exited).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: false });
  });

  it('reports the OOM kill when the window says so', async () => {
    const killed: OomWatch = { open: () => ({ close: () => Promise.resolve(true) }) };
    const proc = await spawnProcess({ ...base, argv: selfKill, oomWatch: killed });
    expect(await proc.exited).toMatchObject({ exitCode: 137, oomKilled: true });
  });
});
