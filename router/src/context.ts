/** What every surface (HTTP, WebSocket, gRPC) shares: built once by buildRouterApp. */
import type { OutputBudget } from './admission/output-budget.js';
import type { SandboxGateway } from './agent/gateway.js';
import type { Authenticator } from './auth/index.js';
import type { AgentPorts, Limits } from './config.js';
import type { StreamLimiter } from './limits.js';
import type { Logger } from './observability/logger.js';
import type { RouterMetrics } from './observability/metrics.js';

export interface RouterContext {
  readonly limits: Limits;
  readonly agentPorts: AgentPorts;
  readonly auth: Authenticator;
  readonly gateway: SandboxGateway;
  readonly limiter: StreamLimiter;
  /** Router-wide bytes of buffered exec output in flight. */
  readonly outputBudget: OutputBudget;
  readonly log: Logger;
  readonly metrics: RouterMetrics;
  readonly tracker: ActiveTracker;
  /** Whether a connection was accepted on the port-forward (loopback) listener (app.ts marks them). */
  viaPortForward(socket: object): boolean;
}

/**
 * Every request and stream in progress, so shutdown can stop taking new ones, wait for these
 * to end, and cut the rest after the grace period.
 */
export class ActiveTracker {
  private readonly active = new Set<AbortController>();
  private waiters: (() => void)[] = [];
  draining = false;

  add(controller: AbortController): () => void {
    this.active.add(controller);
    return () => {
      this.active.delete(controller);
      if (this.active.size === 0) {
        for (const w of this.waiters) w();
        this.waiters = [];
      }
    };
  }

  get size(): number {
    return this.active.size;
  }

  /** Resolves when nothing is active (at once if nothing is). */
  idle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  abortAll(reason: unknown): void {
    for (const c of this.active) c.abort(reason);
  }
}
