import { jest } from '@jest/globals';
import { DEFAULT_EXPECTATIONS_TIMEOUT_MS, Expectations } from '../../../src/runtime/expectations.js';
import { ManualClock } from './manual-clock.js';

describe('Expectations', () => {
  it('is satisfied for an owner it knows nothing about', () => {
    expect(new Expectations().satisfied('ns/pool')).toBe(true);
  });

  it('waits for every expected creation to be observed', () => {
    const e = new Expectations({ clock: new ManualClock() });
    e.expectCreations('ns/pool', 2);
    expect(e.satisfied('ns/pool')).toBe(false);
    e.creationObserved('ns/pool');
    expect(e.pending('ns/pool')).toEqual({ creations: 1, deletions: [] });
    e.creationObserved('ns/pool');
    expect(e.satisfied('ns/pool')).toBe(true);
    expect(e.pending('ns/pool')).toBeUndefined();
  });

  it('adds up creations expected in several steps and never goes negative', () => {
    const e = new Expectations({ clock: new ManualClock() });
    e.expectCreations('k', 1);
    e.expectCreations('k', 1);
    e.creationObserved('k');
    expect(e.satisfied('k')).toBe(false);
    e.creationObserved('k');
    e.creationObserved('k'); // a stray observation (someone else's pod) is harmless
    expect(e.satisfied('k')).toBe(true);
    e.expectCreations('k', 1);
    expect(e.satisfied('k')).toBe(false);
  });

  it('tracks deletions by uid', () => {
    const e = new Expectations({ clock: new ManualClock() });
    e.expectDeletion('k', 'uid-1');
    e.expectDeletion('k', 'uid-2');
    e.deletionObserved('k', 'uid-3');
    expect(e.satisfied('k')).toBe(false);
    e.deletionObserved('k', 'uid-1');
    expect(e.pending('k')).toEqual({ creations: 0, deletions: ['uid-2'] });
    e.deletionObserved('k', 'uid-2');
    expect(e.satisfied('k')).toBe(true);
  });

  it('expires a record after the timeout, counted from the last raise', () => {
    const clock = new ManualClock();
    const e = new Expectations({ clock, timeoutMs: 1_000 });
    e.expectCreations('k', 1);
    clock.advance(600);
    expect(e.remainingMs('k')).toBe(400);
    e.expectDeletion('k', 'uid'); // raising again restarts the clock
    clock.advance(999);
    expect(e.satisfied('k')).toBe(false);
    expect(e.remainingMs('k')).toBe(1);
    clock.advance(1);
    expect(e.satisfied('k')).toBe(true);
    expect(e.pending('k')).toBeUndefined(); // dropped: the caller recounts from the cache
    expect(e.remainingMs('k')).toBe(0);
  });

  it('expires with the default timeout under jest fake timers', () => {
    jest.useFakeTimers();
    try {
      const e = new Expectations();
      e.expectCreations('k', 3);
      jest.advanceTimersByTime(DEFAULT_EXPECTATIONS_TIMEOUT_MS - 1);
      expect(e.satisfied('k')).toBe(false);
      jest.advanceTimersByTime(1);
      expect(e.satisfied('k')).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });

  it('forgets an owner', () => {
    const e = new Expectations({ clock: new ManualClock() });
    e.expectCreations('k', 5);
    e.forget('k');
    expect(e.satisfied('k')).toBe(true);
  });

  it('ignores non-positive creation counts', () => {
    const e = new Expectations({ clock: new ManualClock() });
    e.expectCreations('k', 0);
    expect(e.pending('k')).toBeUndefined();
  });
});
