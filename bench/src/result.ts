/** The JSON every benchmark writes: `{name, unit, value, n, p50, p95, p99, env, …}`. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchEnvironment, type BenchEnvironment } from './environment.js';
import { summarize } from './stats.js';

export interface BenchResult {
  readonly name: string;
  readonly unit: string;
  /** The headline number: p50 of the samples unless the benchmark says otherwise. */
  readonly value: number;
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  /** A target the design sets for this number, when there is one, and whether it was met. */
  readonly target?: { readonly value: number; readonly met: boolean };
  readonly params: Readonly<Record<string, string | number | boolean>>;
  readonly env: BenchEnvironment;
  readonly at: string;
}

export interface ResultInput {
  readonly name: string;
  readonly unit: string;
  readonly samples: readonly number[];
  /** Lower is better unless `higherIsBetter`; decides `target.met`. */
  readonly target?: number;
  readonly higherIsBetter?: boolean;
  readonly params?: Readonly<Record<string, string | number | boolean>>;
}

export function buildResult(
  input: ResultInput,
  env: BenchEnvironment = benchEnvironment(),
  now = new Date(),
): BenchResult {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(input.name)) {
    throw new Error(
      `benchmark name "${input.name}" must be lowercase letters, digits and dashes (it names the file)`,
    );
  }
  const s = summarize(input.samples);
  return {
    name: input.name,
    unit: input.unit,
    value: s.p50,
    n: s.n,
    p50: s.p50,
    p95: s.p95,
    p99: s.p99,
    mean: s.mean,
    min: s.min,
    max: s.max,
    ...(input.target === undefined
      ? {}
      : {
          target: {
            value: input.target,
            met: input.higherIsBetter ? s.p50 >= input.target : s.p50 <= input.target,
          },
        }),
    params: input.params ?? {},
    env,
    at: now.toISOString(),
  };
}

/** Writes `<dir>/<name>.json` and returns its path. */
export function writeResult(result: BenchResult, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${result.name}.json`);
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}
