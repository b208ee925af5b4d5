/**
 * The router-wide budget of buffered output. A buffered exec holds its whole result in the
 * router's memory until the response is written, so every such request reserves what it may hold
 * (both streams at their cap, see `bufferedRunBytes`) before anything runs; when the reservations
 * in flight would pass the budget, the request is refused with `output_budget_exhausted` (429,
 * RESOURCE_EXHAUSTED) instead of growing the router towards its memory limit. Streaming surfaces
 * (WebSocket exec, gRPC `Exec`, file transfers) hold only flow-controlled chunks and draw nothing.
 */
import { RouterError } from '../errors.js';

export interface BudgetGauge {
  set(value: number): void;
}

/** A share of the budget; give it back with `release()` (idempotent) whenever the request ends. */
export interface OutputReservation {
  readonly bytes: number;
  /**
   * Re-sizes the share to what is actually held (the reply has arrived): smaller gives bytes back;
   * larger is taken even past the budget, since the memory is already in use, and makes later
   * requests wait for it.
   */
  resize(bytes: number): void;
  readonly release: () => void;
}

export class OutputBudget {
  private used = 0;

  constructor(
    readonly limitBytes: number,
    private readonly gauge?: BudgetGauge,
  ) {}

  /** Bytes reserved by requests in flight. */
  get reserved(): number {
    return this.used;
  }

  /** Reserves `bytes`, or throws `output_budget_exhausted` (Retry-After 1) when they do not fit. */
  reserve(bytes: number): OutputReservation {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`cannot reserve ${bytes} bytes`);
    if (this.used + bytes > this.limitBytes) {
      throw new RouterError(
        'output_budget_exhausted',
        `the router holds its maximum of buffered exec output (${this.limitBytes} bytes across all callers); retry, lower maxOutputBytes, or stream the output over the WebSocket exec`,
        { retryAfterSeconds: 1 },
      );
    }
    let held = bytes;
    this.add(held);
    let released = false;
    return {
      get bytes() {
        return held;
      },
      resize: (next: number) => {
        if (released || !Number.isSafeInteger(next) || next < 0) return;
        this.add(next - held);
        held = next;
      },
      release: () => {
        if (released) return;
        released = true;
        this.add(-held);
        held = 0;
      },
    };
  }

  private add(delta: number): void {
    this.used += delta;
    this.gauge?.set(this.used);
  }
}
