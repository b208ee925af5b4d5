/**
 * Descriptors the agent inherits from whatever started it (beyond 0–2) never reach a sandboxed
 * process: the bundle is started with a file and a socket on extra descriptors, without
 * close-on-exec, and processes it runs (plain and in the background) list their own
 * /proc/self/fd.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { jest } from '@jest/globals';
import { credentials } from '@grpc/grpc-js';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import type { AgentClient } from '@sandbank/proto';
import { buildBundle, removeBundle } from '@sandbank/testing';

jest.setTimeout(60_000);

/** Descriptor numbers above the few Node itself marks close-on-exec at start. */
const FILE_FD = 40;
const SOCKET_FD = 41;

let bundle: string;
let dir: string;
let agent: ChildProcess;
let client: AgentClient;
const logs: Record<string, unknown>[] = [];

beforeAll(async () => {
  bundle = buildBundle();
  dir = await mkdtemp(join(tmpdir(), 'sandbank-fds-test-'));
  const marker = join(dir, 'inherited-marker');
  await writeFile(marker, 'the agent must not pass this on\n');
  const file = openSync(marker, 'r');
  // libuv puts these on the child's descriptors FILE_FD and SOCKET_FD (a socketpair for 'pipe')
  // with dup2, which leaves them without close-on-exec: as a careless parent would pass them.
  const stdio: StdioOptions = ['ignore', 'pipe', 'inherit'];
  for (let fd = 3; fd < FILE_FD; fd++) stdio.push('ignore');
  stdio.push(file, 'pipe');
  agent = spawn(process.execPath, [bundle], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      SANDBANK_AGENT_HOST: '127.0.0.1',
      SANDBANK_AGENT_GRPC_PORT: '0',
      SANDBANK_AGENT_REST_PORT: '0',
      SANDBANK_AGENT_INSECURE_NO_AUTH: 'true',
      SANDBANK_AGENT_WORKSPACE: await mkdtemp(join(dir, 'ws-')),
    },
    stdio,
  });
  closeSync(file);
  const grpcPort = await new Promise<number>((resolve, reject) => {
    createInterface({ input: agent.stdout ?? process.stdin }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry['msg'] === 'agent listening') resolve(entry['grpcPort'] as number);
      } catch {
        // not a log line
      }
    });
    agent.once('exit', (code) => reject(new Error(`agent exited with ${String(code)} before listening`)));
  });
  client = createAgentClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
});

afterAll(async () => {
  client.close();
  const exited = new Promise((resolve) => agent.once('exit', resolve));
  agent.kill('SIGKILL');
  await exited;
  removeBundle(bundle);
  await rm(dir, { recursive: true, force: true });
});

/** The descriptors of a process as `ls -l /proc/self/fd` prints them: number → target. */
function descriptors(listing: string): Map<number, string> {
  const fds = new Map<number, string>();
  for (const line of listing.split('\n')) {
    const match = / (\d+) -> (.*)$/.exec(line);
    if (match) fds.set(Number(match[1]), match[2] ?? '');
  }
  return fds;
}

/** Fails naming every descriptor of `listing` beyond stdio and ls's own directory. */
function expectOnlyStdio(listing: string): void {
  const fds = descriptors(listing);
  expect(fds.size).toBeGreaterThanOrEqual(3); // the listing was read
  const extra = [...fds].filter(([fd, target]) => fd > 2 && !target.endsWith('/fd'));
  expect(extra).toEqual([]);
  expect(listing).not.toContain('inherited-marker');
}

it('runs a plain process with no descriptor the agent inherited', async () => {
  const api = createAgentPromiseClient(client);
  const ran = await api.run({
    process: { command: { case: 'argv', value: { args: ['ls', '-l', '/proc/self/fd/'] } } },
  });
  expect(ran.exit?.exitCode).toBe(0);
  expectOnlyStdio(Buffer.from(ran.stdout).toString());
});

it('runs a background process with no descriptor the agent inherited', async () => {
  const api = createAgentPromiseClient(client);
  const { process: info } = await api.startProcess({
    process: { command: { case: 'argv', value: { args: ['ls', '-l', '/proc/self/fd/'] } } },
  });
  const id = info?.id ?? '';
  expect((await api.waitProcess({ id })).process?.exit?.exitCode).toBe(0);
  let listing = '';
  for await (const frame of api.attachProcess({ id, fromOffset: 0n, follow: false })) {
    if (frame.event.case === 'output') listing += Buffer.from(frame.event.value.data).toString();
  }
  expectOnlyStdio(listing);
});

it('logs which inherited descriptors it closed at start', () => {
  const entry = logs.find((l) => l['msg'] === 'closed inherited descriptors');
  // Others may be there too: whatever this test's own parent leaked into it.
  expect(entry?.['fds']).toEqual(expect.arrayContaining([FILE_FD, SOCKET_FD]));
});
