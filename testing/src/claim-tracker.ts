/**
 * A separate watcher of one namespace (claims, pods, sandboxes) that timestamps, per claim, when
 * each step of its bind became visible: the claim itself (watch delivery), its Pod bound (the
 * guarded Pod write), its Sandbox created, and the claim's `Ready=True` (the status writes).
 * All times are `performance.now()` of the moment the event arrived here.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { Labels } from '@sandbank/api';
import { collectionPaths, isReady, type Obj } from './fixtures.js';
import { watchCollection, type CollectionWatch } from './wait.js';

export interface ClaimTimes {
  uid?: string;
  seenAt?: number;
  boundAt?: number;
  sandboxAt?: number;
  readyAt?: number;
  launchType?: string | undefined;
}

export class ClaimTracker {
  readonly claims = new Map<string, ClaimTimes>();
  private readonly nameByUid = new Map<string, string>();
  private readonly waiters = new Map<string, (at: number) => void>();
  private readonly watches: CollectionWatch[];
  readyCount = 0;

  constructor(kc: KubeConfig, ns: string) {
    const paths = collectionPaths(ns);
    this.watches = [
      watchCollection(kc, paths.claims, (type, claim, at) => this.onClaim(type, claim, at)),
      watchCollection(kc, paths.pods, (type, pod, at) => {
        if (type === 'DELETED') return;
        const uid = pod.metadata.labels?.[Labels.claimUid];
        const name = uid === undefined ? undefined : this.nameByUid.get(uid);
        if (name !== undefined) this.times(name).boundAt ??= at;
      }),
      watchCollection(kc, paths.sandboxes, (type, sandbox, at) => {
        if (type !== 'ADDED') return;
        const t = this.times(sandbox.metadata.name);
        t.sandboxAt ??= at;
        t.launchType ??= sandbox.metadata.labels?.[Labels.launchType];
      }),
    ];
  }

  get started(): Promise<void> {
    return Promise.all(this.watches.map((w) => w.started)).then(() => undefined);
  }

  stop(): void {
    for (const w of this.watches) w.stop();
  }

  /** Forgets every claim (between phases of a benchmark). */
  reset(): void {
    this.claims.clear();
    this.nameByUid.clear();
    this.readyCount = 0;
  }

  /** Resolves with the time `name` was seen Ready; rejects after `timeoutMs`. */
  waitReady(name: string, timeoutMs = 30_000): Promise<number> {
    const readyAt = this.claims.get(name)?.readyAt;
    if (readyAt !== undefined) return Promise.resolve(readyAt);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(name);
        reject(
          new Error(
            `claim ${name} not Ready within ${timeoutMs} ms: ${JSON.stringify(this.claims.get(name))}`,
          ),
        );
      }, timeoutMs);
      this.waiters.set(name, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  /** Resolves once `n` claims are Ready; rejects after `timeoutMs`. */
  async waitReadyCount(n: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.readyCount < n) {
      if (performance.now() > deadline)
        throw new Error(`only ${this.readyCount}/${n} claims Ready after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private times(name: string): ClaimTimes {
    let t = this.claims.get(name);
    if (!t) {
      t = {};
      this.claims.set(name, t);
    }
    return t;
  }

  private onClaim(type: string, claim: Obj, at: number): void {
    if (type === 'DELETED') return;
    const name = claim.metadata.name;
    const t = this.times(name);
    t.seenAt ??= at;
    if (t.uid === undefined && claim.metadata.uid) {
      t.uid = claim.metadata.uid;
      this.nameByUid.set(claim.metadata.uid, name);
    }
    if (t.readyAt === undefined && isReady(claim)) {
      t.readyAt = at;
      this.readyCount++;
      this.waiters.get(name)?.(at);
      this.waiters.delete(name);
    }
  }
}
