import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildResult, percentile, summarize, writeResult, type BenchEnvironment } from '@sandbank/bench';

const env: BenchEnvironment = {
  node: 'v20',
  os: 'Linux',
  cpu: 'x',
  cores: 2,
  memoryGiB: 24,
  commit: 'abc',
  ci: false,
};

describe('percentile (nearest rank)', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  it.each([
    [0.5, 50],
    [0.95, 95],
    [0.99, 99],
    [1, 100],
    [0, 1],
  ])('q=%p of 1..100 is %p', (q, expected) => expect(percentile(sorted, q)).toBe(expected));

  it('returns a measured sample for small n', () => {
    expect(percentile([3, 7], 0.5)).toBe(3);
    expect(percentile([3, 7], 0.99)).toBe(7);
  });

  it('rejects empty input and ranks outside [0, 1]', () => {
    expect(() => percentile([], 0.5)).toThrow('no samples');
    expect(() => percentile([1], 1.5)).toThrow('outside');
  });
});

describe('summarize', () => {
  it('sorts before ranking and reports mean, min, max', () => {
    expect(summarize([5, 1, 3])).toEqual({ n: 3, mean: 3, min: 1, max: 5, p50: 3, p95: 5, p99: 5 });
  });
  it('refuses non-finite samples', () => {
    expect(() => summarize([1, Number.NaN])).toThrow('finite');
  });
});

describe('buildResult / writeResult', () => {
  it('writes {name, unit, value, n, p50, p95, p99, env} JSON named after the result', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-'));
    try {
      const result = buildResult(
        { name: 'claim-latency', unit: 'ms', samples: [30, 10, 20, 40], target: 40 },
        env,
        new Date('2026-01-01T00:00:00Z'),
      );
      const path = writeResult(result, dir);
      const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      expect(path).toBe(join(dir, 'claim-latency.json'));
      expect(json).toMatchObject({
        name: 'claim-latency',
        unit: 'ms',
        value: 20,
        n: 4,
        p50: 20,
        p95: 40,
        p99: 40,
        env,
      });
      expect(json['target']).toEqual({ value: 40, met: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('marks a missed target honestly, in either direction', () => {
    expect(buildResult({ name: 'a', unit: 'ms', samples: [50], target: 40 }, env).target?.met).toBe(false);
    expect(
      buildResult({ name: 'b', unit: 'claims/s', samples: [15], target: 20, higherIsBetter: true }, env)
        .target?.met,
    ).toBe(false);
  });

  it('refuses names that would make odd file names', () => {
    expect(() => buildResult({ name: '../x', unit: 'ms', samples: [1] }, env)).toThrow('lowercase');
  });
});
