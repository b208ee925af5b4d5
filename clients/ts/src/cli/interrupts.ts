/**
 * Ctrl-C, SIGTERM and SIGHUP while a command runs. They abort `signal` (with an `Interrupted`), so
 * every client call stops and a claim the CLI made is still deleted on the way out; while a remote
 * command runs, the first Ctrl-C is passed on to it instead (as a terminal would), and a second
 * one stops the CLI.
 */
import { Interrupted } from './failures.js';
import type { CliIo } from './io.js';

const STOPPING = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class Interrupts {
  private readonly controller = new AbortController();
  private readonly unsubscribe: (() => void)[];
  private forward: (() => void) | undefined;

  constructor(io: CliIo) {
    this.unsubscribe = STOPPING.map((name) => io.onSignal(name, () => this.receive(name)));
  }

  /** Aborts with an `Interrupted` once the CLI is to stop. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The next Ctrl-C calls `handler` (once) instead of stopping; undefined: stop again. */
  forwardInterrupt(handler: (() => void) | undefined): void {
    this.forward = handler;
  }

  private receive(name: (typeof STOPPING)[number]): void {
    const forward = this.forward;
    if (name === 'SIGINT' && forward) {
      this.forward = undefined;
      forward();
      return;
    }
    this.controller.abort(new Interrupted(name));
  }

  dispose(): void {
    for (const off of this.unsubscribe) off();
  }
}
