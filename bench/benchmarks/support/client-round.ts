/**
 * One round of the TypeScript client as a user writes it, timed whole and by phase:
 *
 *   await using sb = await create();
 *   await sb.commands.run('true');
 *
 * `create` (claim written, watched until Ready, route opened), `run` through the router, and
 * `dispose` (route closed, claim deleted). Shared by the kwok-stack and local-cluster benchmarks.
 */
import type { Sandbox } from '@sandbank/client';
import type { ResultInput } from '../../src/index.js';

export interface RoundTimes {
  readonly round: number;
  readonly create: number;
  readonly run: number;
  readonly dispose: number;
}

export async function clientRound(create: () => Promise<Sandbox>): Promise<RoundTimes> {
  const start = performance.now();
  let created = 0;
  let ran = 0;
  {
    await using sb = await create();
    created = performance.now();
    const result = await sb.commands.run('true');
    if (result.exitCode !== 0) throw new Error(`true exited ${result.exitCode}: ${result.stderr}`);
    ran = performance.now();
  }
  const end = performance.now();
  return { round: end - start, create: created - start, run: ran - created, dispose: end - ran };
}

/** The whole round as `name` (with the target), and each phase as `<name>-<phase>`. */
export function roundResults(
  name: string,
  times: readonly RoundTimes[],
  targetP50Ms: number,
  params: Readonly<Record<string, string | number | boolean>>,
): ResultInput[] {
  const phase = (key: Exclude<keyof RoundTimes, 'round'>): ResultInput => ({
    name: `${name}-${key}`,
    unit: 'ms',
    samples: times.map((t) => t[key]),
    params,
  });
  return [
    { name, unit: 'ms', samples: times.map((t) => t.round), target: targetP50Ms, params },
    phase('create'),
    phase('run'),
    phase('dispose'),
  ];
}
