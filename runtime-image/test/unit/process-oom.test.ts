import { spawnProcess } from '../../src/process/process.js';
import type { OomWatch } from '../../src/process/oom.js';

// The OOM counter lives in the sandbox's cgroup, which the sandbox's own code can disturb: a
// counter that cannot be read must not leave the process's exit unreported.
describe('a process killed by a SIGKILL the agent did not send', () => {
  const kill = ['sh', '-c', 'kill -KILL $$'] as const;
  const base = {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    cwd: '/',
    timeoutMs: 0,
    killGraceMs: 0,
    stdin: false,
  };

  it('still exits, not OOM-killed, when the OOM counter cannot be read', async () => {
    const unreadable: OomWatch = { killedSinceLastCheck: () => Promise.reject(new Error('EIO')) };
    const proc = await spawnProcess({ ...base, argv: kill, oomWatch: unreadable });
    const exit = await proc.exited;
    expect(exit).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: false });
  });

  it('reports the OOM kill when the counter says so', async () => {
    const killed: OomWatch = { killedSinceLastCheck: () => Promise.resolve(true) };
    const proc = await spawnProcess({ ...base, argv: kill, oomWatch: killed });
    expect(await proc.exited).toMatchObject({ exitCode: 137, oomKilled: true });
  });
});
