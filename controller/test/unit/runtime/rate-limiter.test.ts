import { exponentialBackoff, maxOf, tokenBucket } from '../../../src/runtime/rate-limiter.js';
import { ManualClock } from './manual-clock.js';

describe('exponentialBackoff', () => {
  it('doubles from the base per failure and stops at the cap', () => {
    const l = exponentialBackoff<string>({ baseMs: 5, maxMs: 60_000 });
    const delays = Array.from({ length: 16 }, () => l.when('k'));
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(delays[13]).toBe(40_960);
    expect(delays[14]).toBe(60_000);
    expect(delays[15]).toBe(60_000);
    expect(l.retries('k')).toBe(16);
  });

  it('never overflows past the cap after very many failures', () => {
    const l = exponentialBackoff<string>();
    for (let i = 0; i < 5_000; i++) l.when('k');
    expect(l.when('k')).toBe(60_000);
  });

  it('counts per key and forgets', () => {
    const l = exponentialBackoff<string>({ baseMs: 1, maxMs: 100 });
    l.when('a');
    l.when('a');
    expect(l.when('b')).toBe(1);
    l.forget('a');
    expect(l.when('a')).toBe(1);
  });

  it('rejects nonsense settings', () => {
    expect(() => exponentialBackoff({ baseMs: 0 })).toThrow(RangeError);
    expect(() => exponentialBackoff({ baseMs: 10, maxMs: 5 })).toThrow(RangeError);
  });
});

describe('tokenBucket', () => {
  it('allows a burst, then spaces retries at the rate', () => {
    const clock = new ManualClock();
    const l = tokenBucket<string>({ qps: 10, burst: 3, clock });
    expect([l.when('a'), l.when('b'), l.when('c')]).toEqual([0, 0, 0]);
    expect(l.when('d')).toBe(100);
    expect(l.when('e')).toBe(200);
    clock.advance(1_000); // the bucket refills
    expect(l.when('f')).toBe(0);
  });
});

describe('maxOf', () => {
  it('takes the longest wait', () => {
    const clock = new ManualClock();
    const l = maxOf(
      exponentialBackoff<string>({ baseMs: 5 }),
      tokenBucket<string>({ qps: 1, burst: 1, clock }),
    );
    expect(l.when('a')).toBe(5);
    expect(l.when('a')).toBe(1_000);
    expect(l.retries('a')).toBe(2);
    l.forget('a');
    expect(l.retries('a')).toBe(0);
  });
});
