/**
 * Runs the pieces in order: informers (every replica, so a follower's caches are warm when it
 * takes over) → wait for their first lists → campaign for the lease (or skip that) → start the
 * controllers while leading. Stopping reverses it: controllers drain their in-flight passes, then
 * the lease is released (so the next leader never overlaps our last writes), then the informers
 * stop.
 */
import type { Logger } from '../observability/logger.js';
import type { Controller } from './controller.js';
import type { LeaderElectionOptions, LeaderElector } from './leader-election.js';
import { runLeaderElection } from './leader-election.js';

/** What the manager needs of an informer. */
export interface CacheSource {
  start(): Promise<void>;
  stop(): void;
  hasSynced(): boolean;
}

export type ManagerLeaderElection = Omit<
  LeaderElectionOptions,
  'onStartedLeading' | 'onStoppedLeading' | 'log'
>;

export interface ManagerOptions {
  /** By name (the name appears in readiness reasons and logs). */
  readonly informers: Readonly<Record<string, CacheSource>>;
  readonly controllers: readonly Controller[];
  readonly log: Logger;
  /** Absent: controllers start as soon as the caches sync (one replica, tests). */
  readonly leaderElection?: ManagerLeaderElection;
}

export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}

/** `lost-leadership`: the process should exit (non-zero) and be restarted. */
export type ManagerEnd = 'stopped' | 'lost-leadership';

export interface Manager {
  /** Starts informers and resolves once they synced and the controllers started or the campaign began. */
  start(): Promise<void>;
  /** Graceful stop; idempotent. */
  stop(): Promise<void>;
  /** Ready when every cache has synced. */
  readyz(): Readiness;
  /** Healthy unless leadership was lost (then the process must restart). */
  healthz(): boolean;
  isLeader(): boolean;
  /** Resolves when the manager ended: after `stop()`, or on its own when leadership was lost. */
  readonly done: Promise<ManagerEnd>;
}

export function createManager(opts: ManagerOptions): Manager {
  const log = opts.log.child({ component: 'manager' });
  let elector: LeaderElector | undefined;
  let controllersStarted = false;
  let controllersStopping: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let lost = false;
  let resolveDone: (end: ManagerEnd) => void = () => {};
  const done = new Promise<ManagerEnd>((resolve) => (resolveDone = resolve));

  const startControllers = (): void => {
    if (controllersStarted || stopping) return;
    controllersStarted = true;
    for (const c of opts.controllers) c.start();
    log.info({ controllers: opts.controllers.map((c) => c.name) }, 'controllers started');
  };
  const stopControllers = (): Promise<void> => {
    controllersStopping ??= Promise.all(opts.controllers.map((c) => c.stop())).then(() => undefined);
    return controllersStopping;
  };

  return {
    async start() {
      log.info({ informers: Object.keys(opts.informers) }, 'starting informers');
      await Promise.all(Object.values(opts.informers).map((i) => i.start()));
      if (stopping) return;
      log.info('caches synced');
      if (opts.leaderElection === undefined) {
        startControllers();
        return;
      }
      elector = runLeaderElection({
        ...opts.leaderElection,
        log,
        onStartedLeading: startControllers,
        onStoppedLeading: stopControllers,
      });
      elector.done.then(
        (end) => {
          if (end !== 'lost') return;
          lost = true;
          resolveDone('lost-leadership');
        },
        (err: unknown) => {
          // The campaign itself failed: the lease can no longer be trusted, as when it is lost.
          log.error({ err }, 'leader election failed');
          lost = true;
          resolveDone('lost-leadership');
        },
      );
    },

    stop() {
      stopping ??= (async () => {
        log.info('stopping');
        await stopControllers();
        await elector?.stop();
        for (const informer of Object.values(opts.informers)) informer.stop();
        log.info('stopped');
        resolveDone(lost ? 'lost-leadership' : 'stopped');
      })();
      return stopping;
    },

    readyz() {
      const pending = Object.entries(opts.informers)
        .filter(([, i]) => !i.hasSynced())
        .map(([name]) => name);
      return pending.length === 0
        ? { ready: true }
        : { ready: false, reason: `caches not synced: ${pending.join(', ')}` };
    },

    healthz: () => !lost,
    isLeader: () => (opts.leaderElection === undefined ? controllersStarted : (elector?.isLeader() ?? false)),
    done,
  };
}
