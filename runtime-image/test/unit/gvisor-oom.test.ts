/**
 * What the agent can know about an OOM kill inside gVisor, on a real sandbox with a memory
 * limit (see ../helpers/oom-sandbox.ts and docs/exit-metadata.md). gVisor's cgroup filesystem
 * has no OOM counter, and a process that goes over the sandbox's limit is not killed alone: the
 * host's OOM killer ends a process of the sandbox itself (Sentry, gofer or stub), so the whole
 * sandbox, agent included, is gone and no exit status is ever reported from inside. If a future
 * gVisor changes either, these tests fail and oom.ts can learn more. Fails, never skips,
 * without runsc (see gvisor.test.ts).
 */
import { jest } from '@jest/globals';
import { requireRunsc } from '@sandbank/testing';
import { runInLimitedSandbox } from '../helpers/oom-sandbox.js';

jest.setTimeout(120_000);

const LIMIT = 256 * 1024 * 1024;

beforeAll(() => {
  requireRunsc();
});

it('inside gVisor the agent finds no OOM counter, and cannot write the cgroup files', async () => {
  const run = await runInLimitedSandbox(
    'probe counter; ' +
      'for f in /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max; do ' +
      '(echo 1 > $f) 2>/dev/null && echo "wrote $f"; done; echo done',
    LIMIT,
  );
  expect(run.stderr).not.toMatch(/Error/);
  expect(run.stdout.trim().split('\n')).toEqual(['{"counter":null}', 'done']);
  expect(run.wait).toEqual({ exitStatus: 0 });
  expect(run.hostOomKills).toBe(0);
});

it('a process over the limit takes the whole sandbox down: no exit status, only the host counts the kill', async () => {
  const run = await runInLimitedSandbox('probe spawn tail /dev/zero; echo "probe ended: $?"', LIMIT);
  const lines = run.stdout.trim().split('\n');
  // The agent's side started the process and then never saw it end: it was killed with it.
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^\{"spawned":\d+\}$/);
  expect(run.wait).not.toEqual({ exitStatus: 0 });
  expect(run.hostOomKills).toBeGreaterThanOrEqual(1);
});
