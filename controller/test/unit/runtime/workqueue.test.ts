import { jest } from '@jest/globals';
import { exponentialBackoff } from '../../../src/runtime/rate-limiter.js';
import { WorkQueue } from '../../../src/runtime/workqueue.js';
import { ManualClock } from './manual-clock.js';

/** Resolves after pending promise callbacks have run (queue hand-offs are microtasks). */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('WorkQueue', () => {
  it('hands keys out first-in first-out and deduplicates waiting keys', async () => {
    const q = new WorkQueue({ clock: new ManualClock() });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('never hands out a key that is being processed; a re-add is queued after done', async () => {
    const q = new WorkQueue({ clock: new ManualClock() });
    q.add('a');
    expect(await q.get()).toBe('a');

    q.add('a'); // changed while processing
    expect(q.len()).toBe(0);
    let second: string | undefined;
    const handedOut = q.get().then((k) => (second = k));
    await flush();
    expect(second).toBeUndefined(); // not handed to a second worker

    q.done('a');
    await flush();
    expect(second).toBe('a'); // the change was not lost
    await handedOut;
    q.done('a');
    expect(q.len()).toBe(0);
    expect(q.inFlight()).toBe(0);
  });

  it('keeps one in-flight pass per key under concurrent workers and random adds', async () => {
    const q = new WorkQueue({ clock: new ManualClock() });
    const keys = ['a', 'b', 'c', 'd', 'e'];
    const inFlight = new Set<string>();
    const addsDuringProcessing = new Map<string, number>();
    const processedAfterAdd = new Map<string, number>();
    let violations = 0;
    let passes = 0;
    let rnd = 42;
    const random = (): number => (rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

    const worker = async (): Promise<void> => {
      for (let key = await q.get(); key !== undefined; key = await q.get()) {
        if (inFlight.has(key)) violations++;
        inFlight.add(key);
        processedAfterAdd.set(key, addsDuringProcessing.get(key) ?? 0);
        passes++;
        for (let i = 0; i < Math.floor(random() * 3); i++) await Promise.resolve();
        inFlight.delete(key);
        q.done(key);
      }
    };
    const workers = Array.from({ length: 4 }, () => worker());
    for (let i = 0; i < 500; i++) {
      const key = keys[Math.floor(random() * keys.length)] ?? 'a';
      if (inFlight.has(key)) addsDuringProcessing.set(key, (addsDuringProcessing.get(key) ?? 0) + 1);
      q.add(key);
      if (random() < 0.5) await Promise.resolve();
    }
    // Let everything settle, then every add that raced a pass must have produced a later pass.
    for (let i = 0; i < 50; i++) await flush();
    expect(violations).toBe(0);
    expect(passes).toBeGreaterThan(keys.length);
    for (const [key, adds] of addsDuringProcessing) expect(processedAfterAdd.get(key)).toBe(adds);
    await q.shutDownWithDrain();
    await Promise.all(workers);
  });

  describe('addAfter', () => {
    it('adds the key once its delay has passed (manual clock)', () => {
      const clock = new ManualClock();
      const q = new WorkQueue({ clock });
      q.addAfter('a', 100);
      expect(q.len()).toBe(0);
      clock.advance(99);
      expect(q.len()).toBe(0);
      clock.advance(1);
      expect(q.len()).toBe(1);
    });

    it('keeps the earliest due time per key and fires it once', async () => {
      const clock = new ManualClock();
      const q = new WorkQueue({ clock });
      q.addAfter('a', 100);
      q.addAfter('a', 50); // earlier wins
      q.addAfter('a', 80); // later than pending: ignored
      clock.advance(50);
      expect(q.len()).toBe(1);
      expect(await q.get()).toBe('a');
      q.done('a');
      clock.advance(100); // the superseded 100 ms entry must not fire again
      expect(q.len()).toBe(0);
      expect(clock.pending).toBe(0);
    });

    it('orders many delayed keys by due time with a single timer', () => {
      const clock = new ManualClock();
      const q = new WorkQueue({ clock });
      for (let i = 0; i < 100; i++) q.addAfter(`k${i}`, 1000 - i * 10);
      expect(clock.pending).toBe(1);
      clock.advance(10);
      expect(q.len()).toBe(1); // k99 at 10 ms
      clock.advance(1000);
      expect(q.len()).toBe(100);
    });

    it('adds at once for a zero or negative delay', () => {
      const q = new WorkQueue({ clock: new ManualClock() });
      q.addAfter('a', 0);
      q.addAfter('b', -5);
      expect(q.len()).toBe(2);
    });

    it('works with jest fake timers through the real clock', async () => {
      jest.useFakeTimers();
      try {
        const q = new WorkQueue();
        q.addAfter('a', 1_000);
        let got: string | undefined;
        const handedOut = q.get().then((k) => (got = k));
        jest.advanceTimersByTime(999);
        await flush();
        expect(got).toBeUndefined();
        jest.advanceTimersByTime(1);
        await flush();
        expect(got).toBe('a');
        await handedOut;
        q.shutDown();
      } finally {
        jest.useRealTimers();
      }
    });
  });

  describe('rate limiting', () => {
    it('backs off exponentially per key until forget', () => {
      const clock = new ManualClock();
      const q = new WorkQueue({ clock, rateLimiter: exponentialBackoff({ baseMs: 5, maxMs: 60_000 }) });
      q.addRateLimited('a'); // 5 ms
      clock.advance(4);
      expect(q.len()).toBe(0);
      clock.advance(1);
      expect(q.len()).toBe(1);
      expect(q.numRequeues('a')).toBe(1);

      q.addRateLimited('b'); // other keys have their own count
      clock.advance(5);
      expect(q.len()).toBe(2);

      q.forget('a');
      expect(q.numRequeues('a')).toBe(0);
    });

    it('waits longer on each failure of a key while it is processed', async () => {
      const clock = new ManualClock();
      const q = new WorkQueue({ clock });
      q.add('a');
      const delays: number[] = [];
      for (let i = 0; i < 4; i++) {
        const key = await q.get();
        expect(key).toBe('a');
        q.addRateLimited('a');
        q.done('a');
        const start = clock.now();
        while (q.len() === 0) clock.advance(1);
        delays.push(clock.now() - start);
      }
      expect(delays).toEqual([5, 10, 20, 40]);
      q.shutDown();
    });
  });

  describe('shutdown', () => {
    it('wakes blocked workers with undefined and ignores later adds', async () => {
      const q = new WorkQueue({ clock: new ManualClock() });
      const waiting = q.get();
      q.shutDown();
      expect(await waiting).toBeUndefined();
      q.add('a');
      q.addAfter('b', 10);
      q.addRateLimited('c');
      expect(q.len()).toBe(0);
      expect(await q.get()).toBeUndefined();
      expect(q.isShuttingDown()).toBe(true);
    });

    it('drops queued and delayed keys and cancels the timer', () => {
      const clock = new ManualClock();
      const q = new WorkQueue({ clock });
      q.add('a');
      q.addAfter('b', 100);
      q.shutDown();
      expect(q.len()).toBe(0);
      expect(clock.pending).toBe(0);
    });

    it('shutDownWithDrain resolves only after in-flight keys are done', async () => {
      const q = new WorkQueue({ clock: new ManualClock() });
      q.add('a');
      q.add('b');
      const a = await q.get();
      const b = await q.get();
      let drained = false;
      const draining = q.shutDownWithDrain().then(() => (drained = true));
      await flush();
      expect(drained).toBe(false);
      q.done(a ?? '');
      await flush();
      expect(drained).toBe(false);
      q.add('b'); // ignored while shutting down: done must not re-queue it
      q.done(b ?? '');
      await draining;
      expect(drained).toBe(true);
      expect(q.len()).toBe(0);
    });

    it('shutDownWithDrain resolves at once when nothing is in flight', async () => {
      const q = new WorkQueue({ clock: new ManualClock() });
      await expect(q.shutDownWithDrain()).resolves.toBeUndefined();
    });
  });

  it('reports its depth on every change', async () => {
    const depths: number[] = [];
    const q = new WorkQueue({ clock: new ManualClock(), onDepth: (d) => depths.push(d) });
    q.add('a');
    q.add('b');
    await q.get();
    expect(depths).toEqual([1, 2, 1]);
  });
});
