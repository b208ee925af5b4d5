/** @sandbank/bench — the benchmark convention: statistics, result JSON, the Benchmark shape. */
export { percentile, summarize, type Summary } from './stats.js';
export { buildResult, writeResult, type BenchResult, type ResultInput } from './result.js';
export { benchEnvironment, type BenchEnvironment } from './environment.js';
export type { Benchmark, BenchContext, LocalClusterContext } from './benchmark.js';
