/**
 * The agent inside gVisor: the bundle runs under `runsc` as an OCI bundle in a network
 * namespace of its own (see ../helpers/gvisor-sandbox.ts), and the test drives it from the host
 * over gRPC and the legacy REST port. The kernel the sandboxed commands see is gVisor's, not the
 * host's. This test fails, never skips, when runsc is missing: CI installs it (.ci/run).
 */
import { jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReadFileResponse, WriteFileResponse } from '@sandbank/proto';
import { useGvisorSandbox } from '../helpers/gvisor-sandbox.js';
import { collect, execResult, shell, unary } from '../helpers/calls.js';

jest.setTimeout(60_000);

const gvisor = useGvisorSandbox();

it('runs Exec inside gVisor: the kernel the process sees is gVisor’s', async () => {
  const call = gvisor.client.exec();
  call.write({
    frame: {
      case: 'start',
      value: { process: shell('cat /proc/version; dmesg | head -n 3; id -u; pwd'), stdin: false },
    },
  });
  call.end();
  const r = await execResult(call);
  expect(r.error).toBeUndefined();
  expect(r.exit?.exitCode).toBe(0);
  const hostVersion = readFileSync('/proc/version', 'utf8').trim();
  const [version = '', ...rest] = r.stdout.trim().split('\n');
  expect(version).toMatch(/^Linux version/);
  expect(version).not.toBe(hostVersion);
  expect(rest.join('\n')).toMatch(/Starting gVisor/);
  expect(rest.slice(-2)).toEqual(['1000', '/workspace']);
});

it('streams stdin through the sandbox and writes files the host sees in the workspace', async () => {
  const call = gvisor.client.exec();
  call.write({
    frame: { case: 'start', value: { process: shell('tr a-z A-Z > shout.txt; cat shout.txt'), stdin: true } },
  });
  call.write({ frame: { case: 'stdin', value: Buffer.from('hello from the host\n') } });
  call.end();
  const r = await execResult(call);
  expect(r.stdout).toBe('HELLO FROM THE HOST\n');
  expect(await readFile(join(gvisor.agent.workspace, 'shout.txt'), 'utf8')).toBe('HELLO FROM THE HOST\n');

  await unary<WriteFileResponse>((cb) => {
    const w = gvisor.client.writeFile(cb);
    w.write({ frame: { case: 'header', value: { path: 'in/gvisor.txt' } } });
    w.write({ frame: { case: 'data', value: Buffer.from('written through the agent') } });
    w.end();
  });
  const back = await collect<ReadFileResponse>(gvisor.client.readFile({ path: 'in/gvisor.txt' }));
  expect(Buffer.concat(back.map((m) => Buffer.from(m.data))).toString()).toBe('written through the agent');
});

it('answers the legacy REST API on its own port', async () => {
  const health = await fetch(`${gvisor.agent.restUrl}/`);
  expect(await health.text()).toBe('{"status":"ok","message":"Sandbox Runtime is active."}');
  const exec = await fetch(`${gvisor.agent.restUrl}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ command: 'uname -r' }),
  });
  const body = (await exec.json()) as { stdout: string; exit_code: number };
  expect(body.exit_code).toBe(0);
  expect(body.stdout.trim()).not.toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
});
