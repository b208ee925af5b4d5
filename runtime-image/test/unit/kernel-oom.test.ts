/**
 * oom_killed on a real kernel cgroup, as under runc (see ../helpers/oom-sandbox.ts): the agent's
 * dependencies, built as its main builds them, run processes through the one process table that
 * Exec, Run and POST /execute share, in a fresh memory cgroup with a limit, and the kernel's OOM
 * killer does the killing; exits are checked as the gRPC ExitStatus. Needs root (it creates the
 * cgroup), as the gVisor tests do.
 */
import { jest } from '@jest/globals';
import { runInMemoryCgroup } from '../helpers/oom-sandbox.js';

jest.setTimeout(120_000);

const LIMIT = 256 * 1024 * 1024;
/** A memory hog the OOM killer prefers to the probe (raising one's own score needs no privilege). */
const HOG = `echo 1000 > /proc/self/oom_score_adj; exec tail /dev/zero`;

interface Exit {
  signal: string;
  exitCode: number;
  oomKilled: boolean;
}

function exits(stdout: string): Exit[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { exit?: Exit })
    .flatMap((o) => (o.exit ? [o.exit] : []));
}

it('finds the counter of the agent’s own cgroup on the host kernel', async () => {
  const run = await runInMemoryCgroup('probe counter', LIMIT);
  expect(run.stderr).toBe('');
  expect(run.stdout).toMatch(
    /"file":"\/sys\/fs\/cgroup\/(memory\/)?sbk-oom-[^"]+\/memory\.(events|oom_control)"/,
  );
});

it('reports only the process the OOM killer ended, not an earlier unreported kill or a later SIGKILL', async () => {
  const run = await runInMemoryCgroup(
    [
      'probe spawn',
      // A grandchild is OOM-killed; the shell exits 3: nobody is told, the counter went up.
      `sh -c 'sh -c "${HOG}"; exit 3'`,
      // Then a process dies of a SIGKILL that is not the OOM killer's.
      `-- sh -c 'kill -KILL $$'`,
      // Then the OOM killer ends the process itself.
      `-- sh -c '${HOG}'`,
    ].join(' '),
    LIMIT,
  );
  expect(run.stderr).toBe('');
  expect(exits(run.stdout)).toEqual([
    expect.objectContaining({ exitCode: 3, signal: '', oomKilled: false }),
    expect.objectContaining({ exitCode: 137, signal: 'SIGKILL', oomKilled: false }),
    expect.objectContaining({ exitCode: 137, signal: 'SIGKILL', oomKilled: true }),
  ]);
});
