/**
 * Waiting on the Pod cache: a condition on one Pod, re-read at each change of that Pod, for a
 * bounded time. Waiters are kept by Pod, so a change wakes only the waits on the Pod that changed
 * (a busy namespace's churn costs the other waits nothing). Each wait holds one timer and one
 * entry until it ends, so the waits in flight are bounded by the calls in flight.
 */
export interface PodKey {
  readonly namespace: string;
  readonly name: string;
}

export class PodChanges {
  /** Waiters by `namespace/name`; a Pod's set is removed with its last waiter. */
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Whatever feeds the Pod cache calls this after each change of `pod`. */
  changed(pod: PodKey): void {
    for (const waiter of [...(this.waiters.get(keyOf(pod)) ?? [])]) waiter();
  }

  /**
   * `decide()`'s answer, now or at the first change of `pod` that gives one (undefined: not yet
   * known); false when none came within `waitMs` or `signal` aborts.
   */
  until(
    pod: PodKey,
    decide: () => boolean | undefined,
    waitMs: number,
    signal: AbortSignal,
  ): Promise<boolean> {
    const now = decide();
    if (now !== undefined) return Promise.resolve(now);
    if (signal.aborted || waitMs <= 0) return Promise.resolve(false);
    const key = keyOf(pod);
    const waiters = this.waiters.get(key) ?? new Set<() => void>();
    this.waiters.set(key, waiters);
    return new Promise((resolve) => {
      const done = (result: boolean): void => {
        clearTimeout(timer);
        waiters.delete(check);
        if (waiters.size === 0) this.waiters.delete(key);
        signal.removeEventListener('abort', abort);
        resolve(result);
      };
      const check = (): void => {
        const verdict = decide();
        if (verdict !== undefined) done(verdict);
      };
      const abort = (): void => done(false);
      const timer = setTimeout(() => done(false), waitMs);
      waiters.add(check);
      signal.addEventListener('abort', abort, { once: true });
    });
  }
}

const keyOf = (pod: PodKey): string => `${pod.namespace}/${pod.name}`;
