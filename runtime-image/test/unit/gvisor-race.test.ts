/**
 * The path race of #16 (finding 7) where it matters: the agent inside gVisor, and the hostile
 * code a process of the sandbox (started through Exec, as sandbox code is), swapping workspace
 * names for links to a directory in the sandbox's own /tmp while the host drives every file
 * entry point (see ../helpers/race.ts). gVisor is not Linux: it has no RENAME_EXCHANGE (the
 * swapper falls back to three renames), and it follows a final symlink on an O_DIRECTORY open
 * even with O_NOFOLLOW, which the agent's walk must not depend on. Fails, never skips, without
 * runsc (see gvisor.test.ts).
 */
import { jest } from '@jest/globals';
import { Signal } from '@sandbank/proto';
import { useGvisorSandbox } from '../helpers/gvisor-sandbox.js';
import { argv, execResult, frameWhere } from '../helpers/calls.js';
import { changedNames, INSIDE, runRace, SECRET, SHAPES_SCRIPT, SNAPSHOT_SCRIPT } from '../helpers/race.js';
import { SWAPPER_SCRIPT } from '../helpers/swapper.js';

/** Rounds; each runs every entry point once, all at the same time. */
const ITERATIONS = 2_000;
const OUTSIDE = '/tmp/outside';

jest.setTimeout(900_000);

const gvisor = useGvisorSandbox();

/** Runs `args` in the sandbox to its end; its stdout, or a failure with its stderr. */
async function inSandbox(...args: string[]): Promise<string> {
  const call = gvisor.client.exec();
  call.write({ frame: { case: 'start', value: { process: argv(...args), stdin: false } } });
  call.end();
  const r = await execResult(call);
  if (r.error || r.exit?.exitCode !== 0) {
    throw new Error(`${args.slice(0, 2).join(' ')} failed: ${r.error?.message ?? r.stderr}`);
  }
  return r.stdout;
}

const snapshot = async (): Promise<Record<string, string>> =>
  JSON.parse(await inSandbox('python3', '-c', SNAPSHOT_SCRIPT, OUTSIDE)) as Record<string, string>;

it(`never touches anything outside while sandbox code swaps a directory and a file for links (${ITERATIONS} rounds)`, async () => {
  const n = String(ITERATIONS);
  await inSandbox('python3', '-c', SHAPES_SCRIPT, '/workspace/d', INSIDE, n, '0');
  await inSandbox('python3', '-c', SHAPES_SCRIPT, OUTSIDE, SECRET, n, '1');
  await inSandbox(
    'sh',
    '-c',
    `printf ${INSIDE} > f && ln -s ${OUTSIDE} d.swap && ln -s ${OUTSIDE}/f.txt f.swap`,
  );
  const before = await snapshot();

  const swapper = gvisor.client.exec();
  const names = ['/workspace/d', '/workspace/d.swap', '/workspace/f', '/workspace/f.swap'];
  swapper.write({
    frame: {
      case: 'start',
      value: { process: { ...argv('python3', '-c', SWAPPER_SCRIPT, ...names), timeoutMs: 1_800_000 } },
    },
  });
  await frameWhere(
    swapper,
    (f) => f.event.case === 'stdout' && Buffer.from(f.event.value).toString().includes('ready'),
  );
  let swaps = 0;
  const tally = await runRace({ client: gvisor.client, restUrl: gvisor.agent.restUrl }, ITERATIONS).finally(
    async () => {
      const ended = execResult(swapper);
      swapper.write({ frame: { case: 'signal', value: Signal.TERM } });
      swapper.end();
      const r = await ended;
      swaps = Number(r.stdout.trim().split('\n').pop());
    },
  );
  const changed = changedNames(before, await snapshot());

  expect({ escapes: tally.escapes(changed), changed: changed.slice(0, 10) }).toEqual({
    escapes: tally.none(),
    changed: [],
  });
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
