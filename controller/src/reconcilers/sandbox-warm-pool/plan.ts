/**
 * SandboxWarmPool: keep `spec.replicas` unclaimed warm Pods of the template (the v1alpha1 model:
 * the pool owns Pods directly). Pure: decisions only, from what `observe` saw.
 */
import {
  Labels,
  SANDBOX_WARM_POOL_KIND,
  EXTENSIONS_API_VERSION,
  controllerRef,
  nameHash,
  type PersistentVolumeClaimTemplate,
  type Pod,
  type SandboxTemplate,
  type SandboxWarmPool,
  type SandboxWarmPoolStatus,
  type Stored,
} from '@sandbank/api';
import { warningEvent, type EventAction } from '../shared/pure-events.js';
import {
  isPodReady,
  memberClaims,
  mountsClaimsOf,
  podFromTemplate,
  podTemplateHash,
  type VolumeClaimObject,
} from '../shared/pure-pods.js';
import {
  defaultRuntimeClass,
  describeViolations,
  profileViolations,
  type SandboxProfile,
} from '../shared/pure-profile.js';

export interface PoolObserved {
  readonly pool: Readonly<Stored<SandboxWarmPool>>;
  readonly template: Readonly<Stored<SandboxTemplate>> | undefined;
  /** Pods whose controller is this pool (claimed Pods have left it). */
  readonly members: readonly Readonly<Stored<Pod>>[];
  /**
   * The volume claims of each member (by name) that the cache does not have: `missingMemberClaims`
   * (named, and made, once per pass).
   */
  readonly missingClaims: ReadonlyMap<string, readonly VolumeClaimObject[]>;
  /** False while creates or deletes this controller made are not yet in the cache. */
  readonly expectationsSatisfied: boolean;
  /** When the wait for them ends anyway (a watch event may have been lost). */
  readonly expectationsExpireInMs: number;
  /** The sandbox profile of the pool's namespace. */
  readonly profile: SandboxProfile;
}

export type PoolAction =
  /**
   * With volume claim templates, apply names each Pod itself (`<pool>-<5 chars>`, retried on a
   * name clash) so that the Pod can mount its claims `<template>-<pod>`
   * (`withClaimVolumes`), then creates those claims (`memberClaims`). Without, the API server
   * names them (`generateName`).
   */
  | {
      readonly type: 'create-pods';
      readonly count: number;
      readonly pod: Pod;
      readonly volumeClaimTemplates: readonly PersistentVolumeClaimTemplate[];
    }
  /** Claims of existing members that are missing (a crash between a Pod's create and theirs). */
  | { readonly type: 'create-pvcs'; readonly pvcs: readonly VolumeClaimObject[] }
  /** Deleted only at the version seen here: a Pod a claim bound meanwhile is not touched. */
  | {
      readonly type: 'delete-pods';
      readonly pods: readonly {
        readonly name: string;
        readonly uid: string;
        readonly resourceVersion: string;
      }[];
    }
  | EventAction;

export interface PoolPlan {
  readonly actions: readonly PoolAction[];
  /** The status to write, or null when it is already what it should be. */
  readonly status: SandboxWarmPoolStatus | null;
  /** Set while expectations are pending: look again when they expire. */
  readonly requeueAfterMs?: number;
}

export function poolSelector(poolName: string): string {
  return `${Labels.pool}=${nameHash(poolName)}`;
}

export function planPool(o: PoolObserved): PoolPlan {
  const { pool } = o;
  const poolName = pool.metadata.name;
  const live = o.members.filter((p) => !p.metadata.deletionTimestamp);
  const status: SandboxWarmPoolStatus = {
    replicas: live.length,
    readyReplicas: live.filter(isPodReady).length,
    selector: poolSelector(poolName),
    observedGeneration: pool.metadata.generation ?? 0,
  };
  const statusChanged =
    pool.status?.observedGeneration !== status.observedGeneration ||
    pool.status?.replicas !== status.replicas ||
    pool.status?.readyReplicas !== status.readyReplicas ||
    pool.status?.selector !== status.selector;
  // Pending expectations expire; look again then in case the watch missed an event.
  const requeue = o.expectationsSatisfied ? {} : { requeueAfterMs: o.expectationsExpireInMs };
  const withStatus = (actions: PoolAction[]): PoolPlan => ({
    actions,
    status: statusChanged ? status : null,
    ...requeue,
  });

  if (pool.metadata.deletionTimestamp) return { actions: [], status: null, ...requeue };
  if (!o.template) {
    return withStatus([
      warningEvent(
        'TemplateNotFound',
        `SandboxTemplate ${pool.spec.sandboxTemplateRef.name} does not exist; the pool stays empty until it does`,
      ),
    ]);
  }
  // Act only on a cache that reflects our own last writes; otherwise we would create twice.
  if (!o.expectationsSatisfied) return withStatus([]);

  const currentHash = podTemplateHash(o.template.spec.podTemplate);
  const pod = memberPod(pool, o.template, currentHash, o.profile);
  // The pod as it would be created, defaults applied: what the admission policy would see.
  const violations = profileViolations(pod, o.profile);
  if (violations.length > 0) {
    // No pod of this template may run here; unclaimed members left from before (a relaxation
    // taken back, a stricter setting) go too, since no claim can take them any more.
    const rejected: PoolAction[] = [
      warningEvent(
        'TemplateRejected',
        `SandboxTemplate ${o.template.metadata.name} breaks the sandbox profile, so the pool stays empty: ${describeViolations(violations)}`,
      ),
    ];
    if (live.length > 0) rejected.push({ type: 'delete-pods', pods: live.map(podRef) });
    return withStatus(rejected);
  }

  const desired = pool.spec.replicas;
  const isStale = (p: Readonly<Stored<Pod>>) => p.metadata.labels?.[Labels.podTemplateHash] !== currentHash;
  const actions: PoolAction[] = [];
  const claimTemplates = o.template.spec.volumeClaimTemplates ?? [];

  // A member that does not mount the claims the template asks for (made before the template
  // gained or lost some) would give a claim a sandbox without its volumes: it goes under either
  // strategy, like a member of a rejected template.
  const misfits = new Set(live.filter((p) => !mountsClaimsOf(p, claimTemplates)));
  let toDelete: Readonly<Stored<Pod>>[] = [...misfits];
  let kept = live.filter((p) => !misfits.has(p));
  const missingClaims = kept.flatMap((p) => o.missingClaims.get(p.metadata.name) ?? []);
  if (missingClaims.length > 0) actions.push({ type: 'create-pvcs', pvcs: missingClaims });
  if (pool.spec.updateStrategy?.type === 'Recreate') {
    // Recreate: stale members go at once (they are unclaimed by definition), replacements follow.
    toDelete = [...toDelete, ...kept.filter(isStale)];
    kept = kept.filter((p) => !isStale(p));
  }
  if (kept.length > desired) {
    const excess = [...kept].sort(deletionOrder(isStale)).slice(0, kept.length - desired);
    toDelete = [...toDelete, ...excess];
    const leaving = new Set(excess);
    kept = kept.filter((p) => !leaving.has(p));
  }
  if (toDelete.length > 0) {
    actions.push({ type: 'delete-pods', pods: toDelete.map(podRef) });
  }
  if (kept.length < desired) {
    actions.push({
      type: 'create-pods',
      count: desired - kept.length,
      pod,
      volumeClaimTemplates: claimTemplates,
    });
  }
  return withStatus(actions);
}

/**
 * The claims each member mounts (`memberClaims`) that `exists` does not know, by member name;
 * members that lack none are left out.
 */
export function missingMemberClaims(
  members: readonly Readonly<Stored<Pod>>[],
  templates: readonly PersistentVolumeClaimTemplate[],
  exists: (claimName: string) => boolean,
): Map<string, VolumeClaimObject[]> {
  const missing = new Map<string, VolumeClaimObject[]>();
  if (templates.length === 0) return missing;
  for (const pod of members) {
    const lacking = memberClaims(pod, templates).filter((pvc) => !exists(pvc.metadata.name));
    if (lacking.length > 0) missing.set(pod.metadata.name, lacking);
  }
  return missing;
}

/** A pod to delete, at the version seen here. */
function podRef(p: Readonly<Stored<Pod>>) {
  return { name: p.metadata.name, uid: p.metadata.uid, resourceVersion: p.metadata.resourceVersion };
}

/** Not-ready members first, then stale ones, then the newest: keeps the warmest pods. */
function deletionOrder(isStale: (p: Readonly<Stored<Pod>>) => boolean) {
  return (a: Readonly<Stored<Pod>>, b: Readonly<Stored<Pod>>): number => {
    const ready = Number(isPodReady(a)) - Number(isPodReady(b));
    if (ready !== 0) return ready;
    const stale = Number(isStale(b)) - Number(isStale(a));
    if (stale !== 0) return stale;
    return (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '');
  };
}

function memberPod(
  pool: Readonly<Stored<SandboxWarmPool>>,
  template: Readonly<Stored<SandboxTemplate>>,
  hash: string,
  profile: SandboxProfile,
): Pod {
  const poolName = pool.metadata.name;
  const body = podFromTemplate({
    template: template.spec.podTemplate,
    defaultRuntimeClass: defaultRuntimeClass(profile),
    templateName: template.metadata.name,
    owner: controllerRef({
      apiVersion: EXTENSIONS_API_VERSION,
      kind: SANDBOX_WARM_POOL_KIND,
      metadata: pool.metadata,
    }),
    labels: { [Labels.pool]: nameHash(poolName), [Labels.podTemplateHash]: hash },
  });
  return { ...body, metadata: { ...body.metadata, generateName: `${poolName}-` } };
}
