/**
 * Which keys an informer event puts on which controller's queue. Handlers only enqueue (a
 * reconciler re-reads everything from the caches), and map children to owners through
 * controller references, the `claim-uid` label and cache indexes.
 */
import { controllerOf, keyOf, Labels, type ObjectMeta } from '@sandbank/api';
import type { Cache, Informer, InformerEvent, KubeObject } from '@sandbank/kube';
import type { Controller } from '../runtime/controller.js';
import type { Expectations } from '../runtime/expectations.js';
import type { Caches } from './deps.js';
import { Index } from './indexes.js';
import type { ClaimReconciler } from './sandbox-claim/index.js';

export interface Controllers {
  readonly claims: Controller;
  readonly sandboxes: Controller;
  readonly pools: Controller;
  readonly templates: Controller;
}

/** One informer per cache, each feeding its cache. */
export type Informers = {
  readonly [K in keyof Caches]: Caches[K] extends Cache<infer T> ? Informer<T> : never;
};

function ownerKey(meta: ObjectMeta, kind: string): string | undefined {
  const owner = controllerOf(meta);
  return owner?.kind === kind ? `${meta.namespace ?? ''}/${owner.name}` : undefined;
}

/** Both versions of an updated object: an owner change must reach the old owner too. */
function versions<T>(event: InformerEvent<T>): readonly Readonly<T>[] {
  return event.type === 'update' ? [event.obj, event.old] : [event.obj];
}

export function wireEvents(
  informers: Informers,
  caches: Caches,
  controllers: Controllers,
  claimReconciler: ClaimReconciler,
  poolExpectations: Expectations,
  now: () => number,
): void {
  const enqueueIf = (controller: Controller, key: string | undefined) => {
    if (key) controller.enqueue(key);
  };

  informers.claims.onEvent((event) => {
    const key = keyOf(event.obj);
    if (event.type === 'add') claimReconciler.claimSeen(key, now());
    if (event.type === 'delete') claimReconciler.claimGone(key);
    else controllers.claims.enqueue(key);
  });

  informers.sandboxes.onEvent((event) => {
    for (const sandbox of versions(event)) {
      controllers.sandboxes.enqueue(keyOf(sandbox));
      enqueueIf(controllers.claims, ownerKey(sandbox.metadata, 'SandboxClaim'));
    }
  });

  informers.pools.onEvent((event) => controllers.pools.enqueue(keyOf(event.obj)));

  informers.templates.onEvent((event) => {
    const template = event.obj;
    controllers.templates.enqueue(keyOf(template));
    // A template edit may make pool members stale.
    for (const pool of caches.pools.byIndex(Index.templateName, keyOf(template)))
      controllers.pools.enqueue(keyOf(pool));
  });

  informers.pods.onEvent((event) => {
    const pod = event.obj;
    const poolKey = ownerKey(pod.metadata, 'SandboxWarmPool');
    if (poolKey && event.type === 'add') poolExpectations.creationObserved(poolKey);
    if (poolKey && event.type === 'delete')
      poolExpectations.deletionObserved(poolKey, pod.metadata.uid ?? '');
    for (const version of versions(event)) podChanged(version.metadata);
  });

  function podChanged(meta: ObjectMeta): void {
    enqueueIf(controllers.pools, ownerKey(meta, 'SandboxWarmPool'));
    enqueueIf(controllers.sandboxes, ownerKey(meta, 'Sandbox'));
    // A Pod bound to a claim but not yet adopted: its Sandbox is named after the claim.
    const claimKey = ownerKey(meta, 'SandboxClaim');
    enqueueIf(controllers.claims, claimKey);
    enqueueIf(controllers.sandboxes, claimKey);
    const claimUid = meta.labels?.[Labels.claimUid];
    if (claimUid)
      for (const claim of caches.claims.byIndex(Index.uid, claimUid))
        controllers.claims.enqueue(keyOf(claim));
  }

  const toSandbox = (event: InformerEvent<KubeObject>) => {
    for (const version of versions(event))
      enqueueIf(controllers.sandboxes, ownerKey(version.metadata, 'Sandbox'));
  };
  informers.services.onEvent(toSandbox);
  informers.persistentVolumeClaims.onEvent(toSandbox);
  informers.networkPolicies.onEvent((event) => {
    for (const version of versions(event))
      enqueueIf(controllers.templates, ownerKey(version.metadata, 'SandboxTemplate'));
  });
}
