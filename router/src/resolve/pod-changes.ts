/**
 * Waiting on the Pod cache: a condition re-read at each change of a cached Pod, for a bounded
 * time. Each wait holds one timer and one entry until it ends, so the waits in flight are bounded
 * by the calls in flight.
 */
export class PodChanges {
  private readonly waiters = new Set<() => void>();

  /** Whatever feeds the Pod cache calls this after each change. */
  changed(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /**
   * `decide()`'s answer, now or at the first change that gives one (undefined: not yet known);
   * false when none came within `waitMs` or `signal` aborts.
   */
  until(decide: () => boolean | undefined, waitMs: number, signal: AbortSignal): Promise<boolean> {
    const now = decide();
    if (now !== undefined) return Promise.resolve(now);
    if (signal.aborted || waitMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (result: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        signal.removeEventListener('abort', abort);
        resolve(result);
      };
      const check = (): void => {
        const verdict = decide();
        if (verdict !== undefined) done(verdict);
      };
      const abort = (): void => done(false);
      const timer = setTimeout(() => done(false), waitMs);
      this.waiters.add(check);
      signal.addEventListener('abort', abort, { once: true });
    });
  }
}
