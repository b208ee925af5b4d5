/** Summary statistics of a benchmark's samples. Pure. */

export interface Summary {
  readonly n: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

/**
 * Nearest-rank percentile (the smallest sample with at least q of the samples at or below it):
 * always a value that was measured, never an interpolation between two.
 */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('percentile of no samples');
  if (q < 0 || q > 1) throw new Error(`percentile rank ${q} is outside [0, 1]`);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] as number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('a benchmark needs at least one sample');
  if (samples.some((s) => !Number.isFinite(s))) throw new Error('samples must be finite numbers');
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    mean: sorted.reduce((sum, s) => sum + s, 0) / sorted.length,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
  };
}
