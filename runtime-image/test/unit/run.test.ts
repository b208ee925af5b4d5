/**
 * ExecService.Run: the buffered convenience, against real processes. Output caps (1 MiB by
 * default) truncate without killing, stdin is the request's bytes, timeouts and deadlines kill
 * the group, secrets are masked.
 */
import { jest } from '@jest/globals';
import { Metadata, status } from '@grpc/grpc-js';
import type { RunResponse } from '@sandbank/proto';
import { alive, argv, eventually, failure, shell, unary } from '../helpers/calls.js';
import { startTestAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';

jest.setTimeout(20_000);

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent();
});
afterAll(async () => agent.close());

type RunInit = Parameters<TestAgent['client']['run']>[0];
const run = (request: RunInit, deadline?: number): Promise<RunResponse> =>
  unary<RunResponse>((cb) =>
    deadline === undefined
      ? agent.client.run(request, cb)
      : agent.client.run(request, new Metadata(), { deadline: Date.now() + deadline }, cb),
  );
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();

it('returns both streams and the exit status', async () => {
  const r = await run({ process: shell('echo out; echo err >&2; exit 4') });
  expect(text(r.stdout)).toBe('out\n');
  expect(text(r.stderr)).toBe('err\n');
  expect(r.exit).toMatchObject({ exitCode: 4, signal: '', timedOut: false, stdoutTruncated: false });
});

it('feeds the request stdin and then EOF', async () => {
  const input = Buffer.from('line one\nline two\n');
  const r = await run({ process: argv('sort', '-r'), stdin: input });
  expect(text(r.stdout)).toBe('line two\nline one\n');
});

it('keeps 1 MiB per stream by default and flags the rest as truncated, without killing', async () => {
  const r = await run({ process: shell('head -c 3000000 /dev/zero; echo tail >&2') });
  expect(r.stdout.byteLength).toBe(1024 * 1024);
  expect(text(r.stderr)).toBe('tail\n');
  expect(r.exit).toMatchObject({ exitCode: 0, stdoutTruncated: true, stderrTruncated: false });
});

it('honours a smaller cap and refuses one above the agent limit', async () => {
  const r = await run({ process: argv('seq', '1', '1000'), maxOutputBytes: 10n });
  expect(text(r.stdout)).toBe('1\n2\n3\n4\n5\n');
  expect(r.exit?.stdoutTruncated).toBe(true);
  const error = await failure(run({ process: argv('true'), maxOutputBytes: 1n << 40n }));
  expect(error.code).toBe(status.INVALID_ARGUMENT);
  expect(error.details).toMatch(/max_output_bytes .* use Exec/);
});

it('masks secrets in the buffered output', async () => {
  const r = await run({ process: { ...shell('echo "$PW"; echo "x$PW" >&2'), secretEnv: { PW: 'hunter2' } } });
  expect(text(r.stdout)).toBe('***\n');
  expect(text(r.stderr)).toBe('x***\n');
});

it('kills the group when timeout_ms passes and says so', async () => {
  const r = await run({ process: { ...shell('sleep 60 & echo $!; wait'), timeoutMs: 200 } });
  expect(r.exit?.timedOut).toBe(true);
  const grandchild = Number(text(r.stdout).trim());
  await eventually(() => (alive(grandchild) ? undefined : true));
});

it('kills the group when the deadline passes (DEADLINE_EXCEEDED)', async () => {
  const error = await failure(run({ process: argv('sleep', '60') }, 300));
  expect(error.code).toBe(status.DEADLINE_EXCEEDED);
  await eventually(() => (agent.deps.runner.size === 0 ? true : undefined));
});

it('maps bad requests to statuses', async () => {
  expect((await failure(run({}))).code).toBe(status.INVALID_ARGUMENT);
  expect((await failure(run({ process: argv('nope-not-here') }))).code).toBe(status.NOT_FOUND);
  expect((await failure(run({ process: { ...argv('true'), cwd: '/' } }))).code).toBe(
    status.PERMISSION_DENIED,
  );
});
