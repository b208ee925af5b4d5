// Fault injection around the real transport: the API server stays real, but a test can cut the
// live watch, hold new watches back (a "partition"), or make the next watch start from an old
// resourceVersion so that the real server answers 410 Gone.
import { KubeError } from '../../src/errors.js';
import type { KubeTransport, RequestOptions, WatchOptions } from '../../src/transport.js';

export class FaultyTransport implements KubeTransport {
  /** Collection GETs (lists) and watches started, for assertions. */
  lists = 0;
  watches = 0;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private cut: ((err: Error) => void) | undefined;
  private nextWatchFrom: string | undefined;
  private watchWaiters: (() => void)[] = [];

  constructor(private readonly inner: KubeTransport) {}

  request<T>(opts: RequestOptions): Promise<T> {
    if (opts.method === 'GET' && opts.query?.['limit'] !== undefined) this.lists++;
    return this.inner.request<T>(opts);
  }

  async watch(opts: WatchOptions): Promise<void> {
    await this.gate;
    this.watches++;
    const local = new AbortController();
    const forward = (): void => local.abort();
    opts.signal.addEventListener('abort', forward, { once: true });
    let injected: Error | undefined;
    this.cut = (err) => {
      injected = err;
      local.abort();
    };
    for (const resolve of this.watchWaiters.splice(0)) resolve();
    const query =
      this.nextWatchFrom === undefined ? opts.query : { ...opts.query, resourceVersion: this.nextWatchFrom };
    this.nextWatchFrom = undefined;
    try {
      await this.inner.watch({ ...opts, query, signal: local.signal });
    } finally {
      opts.signal.removeEventListener('abort', forward);
      this.cut = undefined;
    }
    if (injected !== undefined && !opts.signal.aborted) throw injected;
  }

  close(): void {
    this.inner.close();
  }

  /** Resolves once a watch is running (at once if one is). */
  watching(): Promise<void> {
    return this.cut ? Promise.resolve() : new Promise((resolve) => this.watchWaiters.push(resolve));
  }

  /** Fails the live watch as a dropped connection would. */
  breakWatch(err: Error = new KubeError('Unavailable', 0, 'injected: connection reset')): void {
    this.cut?.(err);
  }

  /** Breaks the live watch and holds every new one until `resume`. */
  pause(): void {
    this.gate ??= new Promise((resolve) => (this.openGate = resolve));
    this.breakWatch();
  }

  /** Lets watches through again; optionally the next one starts at `fromResourceVersion`. */
  resume(opts: { readonly fromResourceVersion?: string } = {}): void {
    this.nextWatchFrom = opts.fromResourceVersion;
    this.openGate?.();
    this.gate = undefined;
    this.openGate = undefined;
  }
}
