/** Waiting on the router's watch-fed cache: woken by its change events, bounded by a timeout. */
import { EventEmitter } from 'node:events';

/** A sandbox by namespace and name, as the router's lookup takes it. */
export interface SandboxRef {
  readonly namespace: string;
  readonly name: string;
}

/** What the router's SandboxLookup offers that these waits use (no import of the router itself). */
export interface ResolvingLookup {
  resolve(ref: SandboxRef): { readonly kind: string };
}

export class Changes extends EventEmitter {
  readonly notify = (): void => void this.emit('change');

  /** Resolves once `check()` holds, re-checking on every cache change. */
  until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onChange = (): void => {
        if (!check()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('change', onChange);
      };
      this.on('change', onChange);
      onChange();
    });
  }

  routable(
    lookup: ResolvingLookup,
    ref: SandboxRef,
    want: 'ready' | 'not_found' | 'not_ready' = 'ready',
  ): Promise<void> {
    return this.until(() => lookup.resolve(ref).kind === want, `${ref.namespace}/${ref.name} ${want}`);
  }
}
