/**
 * Finding 8 of #16: reading a FIFO blocked one of the agent's file-I/O threads (libuv's pool of
 * four) in open(2) until a writer came; four such reads left none for anything else, and every
 * Stat and ReadFile after them timed out. FIFOs and sockets (and devices, which code in a
 * sandbox cannot create) are refused from their lstat, before anything is opened, and a read
 * never opens without O_NONBLOCK.
 */
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { FileType } from '@sandbank/proto';
import type { ListDirResponse, ReadFileResponse, StatResponse } from '@sandbank/proto';
import { startTestAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { collect, failure, unary } from '../helpers/calls.js';

jest.setTimeout(120_000);

/** A deadline that only a wedged agent misses: it detects a hang, it does not time anything. */
const HANG_MS = 30_000;
/** More reads than libuv has threads (4 by default). */
const READS = 12;

let agent: TestAgent;
let socketServer: Server;
beforeAll(async () => {
  agent = await startTestAgent();
  execFileSync('mkfifo', [join(agent.dir, 'pipe')]);
  await writeFile(join(agent.dir, 'data.txt'), 'data');
  socketServer = createServer();
  await new Promise<void>((resolve) => socketServer.listen(join(agent.dir, 'sock'), resolve));
});
afterAll(async () => {
  // If a read did block on the FIFO, a writer that opens and closes it releases the thread
  // (from another process: this one's threads may all be waiting), so the agent can close.
  execFileSync('python3', [
    '-c',
    'import os, sys\ntry: os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK))\nexcept OSError: pass',
    join(agent.dir, 'pipe'),
  ]);
  await new Promise((resolve) => socketServer.close(resolve));
  await agent.close();
});

const deadline = (): Date => new Date(Date.now() + HANG_MS);
const read = (path: string): Promise<ReadFileResponse[]> =>
  collect<ReadFileResponse>(agent.client.readFile({ path }, { deadline: deadline() }));
const stat = (path: string): Promise<StatResponse> =>
  unary<StatResponse>((cb) => agent.client.stat({ path }, { deadline: deadline() }, cb));
const download = (path: string): Promise<Response> =>
  fetch(`${agent.restUrl}/download/${path}`, { signal: AbortSignal.timeout(HANG_MS) });

it(`refuses ${READS} concurrent reads of a FIFO with a clear error, and the agent keeps answering`, async () => {
  const grpcReads = Array.from({ length: READS }, () => failure(read('pipe')));
  const restReads = Array.from({ length: READS }, () => download('pipe'));
  for (const error of await Promise.all(grpcReads)) {
    expect({ code: status[error.code], details: error.details }).toEqual({
      code: 'FAILED_PRECONDITION',
      details: "'pipe' is a FIFO; only regular files can be read",
    });
  }
  for (const r of await Promise.all(restReads)) {
    expect([r.status, await r.text()]).toEqual([404, '{"message":"File not found"}']);
  }
  // Every thread is free: a Stat and a ReadFile of a regular file answer.
  expect((await stat('data.txt')).info?.size).toBe(4n);
  expect(Buffer.from((await read('data.txt'))[0]?.data ?? []).toString()).toBe('data');
});

it('refuses to read a socket, and describes and lists both without opening them', async () => {
  const error = await failure(read('sock'));
  expect([status[error.code], error.details]).toEqual([
    'FAILED_PRECONDITION',
    "'sock' is a socket; only regular files can be read",
  ]);
  expect((await stat('pipe')).info?.type).toBe(FileType.OTHER);
  expect((await stat('sock')).info?.type).toBe(FileType.OTHER);
  const { entries } = await unary<ListDirResponse>((cb) =>
    agent.client.listDir({ path: '' }, { deadline: deadline() }, cb),
  );
  expect(entries.map((e) => [e.name, e.type])).toEqual([
    ['data.txt', FileType.FILE],
    ['pipe', FileType.OTHER],
    ['sock', FileType.OTHER],
  ]);
  const exists = await fetch(`${agent.restUrl}/exists/pipe`, { signal: AbortSignal.timeout(HANG_MS) });
  expect(await exists.text()).toBe('{"path":"pipe","exists":true}');
});
