/**
 * Leader election on a coordination.k8s.io/v1 Lease, through `KubeClient` only (get, create,
 * replace with resourceVersion — the API server's optimistic lock decides every race).
 *
 * Like client-go, a follower never trusts the holder's clock: it notes when *it* saw the lease
 * record change and treats the lease as expired `leaseDurationSeconds` after that. So a fresh
 * follower waits a full lease duration before taking over from a holder that died without
 * releasing — and none at all after a graceful release (holder cleared).
 *
 * One term per elector: after leading ends (stop or loss) it does not campaign again. A process
 * that lost its lease should exit and be restarted; that is simpler to reason about than
 * re-entering with caches and queues left over from the old term.
 */
import { isKubeError, LEASES, microTime } from '@sandbank/kube';
import type { KubeClient, KubeObject } from '@sandbank/kube';
import type { Logger } from '../observability/logger.js';
import type { Clock } from './clock.js';
import { realClock, sleep } from './clock.js';

/**
 * The timing knobs (client-go's defaults, which have held up in every Kubernetes controller):
 *
 * - leaseDuration 15 s: how long followers wait, after they last saw the lease change, before
 *   they may take it. It is the failover time after a crash (SIGKILL, node loss). Shorter fails
 *   over faster but lets a leader that is merely slow (GC pause, apiserver hiccup) be deposed.
 * - renewDeadline 10 s: how long the leader keeps trying to renew before it stops leading. Must
 *   be below leaseDuration: the 5 s gap is the margin in which a deposed leader notices and stops
 *   its workers before anybody else can acquire — in-flight writes finish inside it.
 * - retryPeriod 2 s: how often the leader renews and followers try to acquire. It costs one GET
 *   and one PUT per period per replica; 10 s / 2 s gives the leader five attempts before its
 *   deadline. Followers add up to 20 % jitter so they do not collide.
 */
export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;
const JITTER = 0.2;

export interface LeaderElectionOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  /** Unique per process (two processes with one identity would both lead). */
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** Called once on acquiring; `signal` aborts when leading ends. Errors are logged. */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called once when leading ends (only if it began), before a graceful release of the lease. */
  readonly onStoppedLeading: () => void | Promise<void>;
  readonly log: Logger;
  readonly clock?: Clock;
}

export type LeaderElectionEnd = 'stopped' | 'lost';

export interface LeaderElector {
  isLeader(): boolean;
  /** Stops campaigning; if leading, ends the term (onStoppedLeading) and releases the lease. */
  stop(): Promise<void>;
  /** Resolves when the elector has ended: `stopped` by `stop()`, or `lost` the lease. */
  readonly done: Promise<LeaderElectionEnd>;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export function runLeaderElection(opts: LeaderElectionOptions): LeaderElector {
  const clock = opts.clock ?? realClock;
  const leaseDurationMs = opts.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
  const renewDeadlineMs = opts.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
  const retryPeriodMs = opts.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
  if (!(
    leaseDurationMs > renewDeadlineMs &&
    renewDeadlineMs > retryPeriodMs * (1 + JITTER) &&
    retryPeriodMs > 0
  )) {
    throw new RangeError(
      `leader election needs leaseDuration > renewDeadline > 1.2 × retryPeriod > 0 (got ${leaseDurationMs}, ${renewDeadlineMs}, ${retryPeriodMs} ms)`,
    );
  }
  const log = opts.log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  const stopSignal = new AbortController();

  /** The last lease record we read or wrote, and when (our clock) we first saw that version. */
  let observed: Lease | undefined;
  let observedAt = 0;
  let leading = false;

  const observe = (lease: Lease, at: number): void => {
    if (lease.metadata.resourceVersion !== observed?.metadata.resourceVersion) observedAt = at;
    observed = lease;
  };

  const desired = (current: LeaseSpec | undefined, now: number): LeaseSpec => {
    const renewing = current?.holderIdentity === opts.identity;
    return {
      holderIdentity: opts.identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: renewing && current?.acquireTime ? current.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (current?.leaseTransitions ?? 0) + (renewing || current === undefined ? 0 : 1),
    };
  };

  /** One attempt; true when we hold the lease afterwards. API errors count as a failed attempt. */
  const tryAcquireOrRenew = async (): Promise<boolean> => {
    try {
      const lease = await opts.client.get<Lease>(LEASES, opts.namespace, opts.name);
      const now = clock.now();
      if (lease === undefined) {
        const created = await opts.client.create<Lease>(LEASES, opts.namespace, {
          metadata: { name: opts.name, namespace: opts.namespace },
          spec: desired(undefined, now),
        });
        observe(created, now);
        return true;
      }
      observe(lease, now);
      // No holder, or an empty one (a released lease), is free to take.
      const holder = lease.spec?.holderIdentity;
      const durationMs = (lease.spec?.leaseDurationSeconds ?? leaseDurationMs / 1000) * 1000;
      if (holder && holder !== opts.identity && now < observedAt + durationMs) return false;
      const updated = await opts.client.replace<Lease>(LEASES, opts.namespace, {
        ...lease,
        spec: { ...lease.spec, ...desired(lease.spec, now) },
      });
      observe(updated, now);
      return true;
    } catch (err) {
      if (isKubeError(err, 'Conflict') || isKubeError(err, 'AlreadyExists')) {
        log.debug('lost a lease update race');
      } else {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'lease request failed');
      }
      return false;
    }
  };

  /** Clears the holder so a follower acquires at once instead of waiting out the lease. */
  const release = async (): Promise<void> => {
    if (observed === undefined || observed.spec?.holderIdentity !== opts.identity) return;
    try {
      const now = clock.now();
      await opts.client.replace<Lease>(LEASES, opts.namespace, {
        ...observed,
        spec: { ...observed.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(now) },
      });
      log.info('released the lease');
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not release the lease');
    }
  };

  /**
   * Renews until `deadline` (our clock), retrying every retryPeriod. Returns when the successful
   * attempt started (the lease is ours from then on), `undefined` if none succeeded in time, or
   * the current time when stopping.
   */
  const renewBy = async (deadline: number): Promise<number | undefined> => {
    while (!stopSignal.signal.aborted) {
      const startedAt = clock.now();
      const remaining = deadline - startedAt;
      if (remaining <= 0) return undefined;
      // A hung request must not carry us past the deadline: race it against the clock.
      const timeout = new AbortController();
      const ok = await Promise.race([
        tryAcquireOrRenew(),
        sleep(clock, remaining, timeout.signal).then(() => false),
      ]);
      timeout.abort();
      if (ok) return startedAt;
      await sleep(clock, Math.min(retryPeriodMs, Math.max(0, deadline - clock.now())), stopSignal.signal);
    }
    return clock.now();
  };

  const run = async (): Promise<LeaderElectionEnd> => {
    log.info('campaigning for leadership');
    let acquiredAt = 0;
    while (!stopSignal.signal.aborted) {
      const startedAt = clock.now();
      if (await tryAcquireOrRenew()) {
        acquiredAt = startedAt;
        break;
      }
      await sleep(clock, retryPeriodMs * (1 + Math.random() * JITTER), stopSignal.signal);
    }
    if (stopSignal.signal.aborted) return 'stopped';

    leading = true;
    let lastRenew = acquiredAt;
    const term = new AbortController();
    log.info('became leader');
    try {
      await opts.onStartedLeading(term.signal);
    } catch (err) {
      log.error({ err }, 'onStartedLeading failed');
    }

    let lost = false;
    while (!stopSignal.signal.aborted) {
      await sleep(clock, retryPeriodMs, stopSignal.signal);
      if (stopSignal.signal.aborted) break;
      const renewedAt = await renewBy(lastRenew + renewDeadlineMs);
      if (renewedAt === undefined) {
        lost = true;
        break;
      }
      lastRenew = renewedAt;
    }

    leading = false;
    term.abort();
    if (lost) log.error({ renewDeadlineMs }, 'lost leadership: could not renew the lease in time');
    else log.info('stopping leading');
    try {
      await opts.onStoppedLeading();
    } catch (err) {
      log.error({ err }, 'onStoppedLeading failed');
    }
    if (!lost) await release();
    return lost ? 'lost' : 'stopped';
  };

  const done = run();
  return {
    isLeader: () => leading,
    async stop() {
      stopSignal.abort();
      await done;
    },
    done,
  };
}
