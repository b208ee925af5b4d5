/**
 * Per-caller concurrency: every request, WebSocket session and gRPC call to a sandbox holds one
 * slot of its caller's budget until it ends. Past the budget the caller gets `too_many_streams`
 * (429, Retry-After) instead of a queue, so one client cannot starve the others or the agents.
 */
import { RouterError } from './errors.js';

export interface StreamSlot {
  /** A detached callback: safe to pass around without its slot. */
  readonly release: () => void;
}

export class StreamLimiter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly maxPerCaller: number) {}

  acquire(callerKey: string): StreamSlot {
    const current = this.counts.get(callerKey) ?? 0;
    if (current >= this.maxPerCaller) {
      throw new RouterError(
        'too_many_streams',
        `at most ${this.maxPerCaller} concurrent requests and streams per caller; retry when one ends`,
        { retryAfterSeconds: 1 },
      );
    }
    this.counts.set(callerKey, current + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const n = (this.counts.get(callerKey) ?? 1) - 1;
        if (n <= 0) this.counts.delete(callerKey);
        else this.counts.set(callerKey, n);
      },
    };
  }

  /** Slots held by all callers (for tests and shutdown). */
  get total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }
}
