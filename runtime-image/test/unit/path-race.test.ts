/**
 * Finding 7 of #16: code in the sandbox swaps a workspace directory for a symbolic link to a
 * directory outside (and a file for a link to a file outside) with atomic renames, as fast as it
 * can, while every file entry point runs against paths through them, over gRPC and the legacy
 * REST API (see ../helpers/race.ts). A check-then-use agent follows the link now and then; this
 * one must never read, list, describe, write, create, truncate or remove anything outside the
 * workspace. The same race inside gVisor: gvisor-race.test.ts.
 */
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { changedNames, INSIDE, runRace, SECRET, SHAPES_SCRIPT, SNAPSHOT_SCRIPT } from '../helpers/race.js';
import { startSwapper } from '../helpers/swapper.js';

/** Rounds; each runs every entry point once, all at the same time. */
const ITERATIONS = 2_000;

jest.setTimeout(900_000);

let agent: TestAgent;
let outside: string;
beforeAll(async () => {
  agent = await startTestAgent();
  outside = await mkdtemp(join(tmpdir(), 'sandbank-race-outside-'));
  const ws = agent.dir;
  execFileSync('python3', ['-c', SHAPES_SCRIPT, join(ws, 'd'), INSIDE, String(ITERATIONS), '0']);
  execFileSync('python3', ['-c', SHAPES_SCRIPT, outside, SECRET, String(ITERATIONS), '1']);
  await writeFile(join(ws, 'f'), INSIDE);
  await symlink(outside, join(ws, 'd.swap'));
  await symlink(join(outside, 'f.txt'), join(ws, 'f.swap'));
});
afterAll(async () => {
  await agent?.close();
  if (outside) await rm(outside, { recursive: true, force: true });
});

const snapshot = (): Record<string, string> =>
  JSON.parse(execFileSync('python3', ['-c', SNAPSHOT_SCRIPT, outside], { encoding: 'utf8' })) as Record<
    string,
    string
  >;

it(`never touches anything outside while a directory and a file are swapped for links (${ITERATIONS} rounds)`, async () => {
  const before = snapshot();
  const ws = agent.dir;
  const swapper = await startSwapper([
    [join(ws, 'd'), join(ws, 'd.swap')],
    [join(ws, 'f'), join(ws, 'f.swap')],
  ]);
  let swaps = 0;
  const tally = await runRace(agent, ITERATIONS).finally(async () => {
    swaps = await swapper.stop();
  });
  const changed = changedNames(before, snapshot());

  expect({ escapes: tally.escapes(changed), changed: changed.slice(0, 10) }).toEqual({
    escapes: tally.none(),
    changed: [],
  });
  // The race was real: the names were swapped many times and the agent saw both shapes.
  expect(swaps).toBeGreaterThan(ITERATIONS);
  for (const name of ['gRPC ReadFile', 'gRPC ReadFile (file swapped)', 'REST download']) {
    expect({ name, sawBoth: tally.sawBoth(name), report: tally.report() }).toEqual({
      name,
      sawBoth: true,
      report: tally.report(),
    });
  }
  if (process.env['SANDBANK_RACE_REPORT']) process.stdout.write(`${swaps} swaps\n${tally.report()}\n`);
});
