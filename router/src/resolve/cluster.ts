/**
 * The informer-backed `SandboxLookup`: three small informers of @sandbank/kube (SandboxClaims,
 * Sandboxes, and only those Pods that carry a sandbox-name-hash label and no warm-pool label),
 * read by the pure `resolveSandbox`. No DNS and no headless Service are involved.
 *
 * The informers parse every object with model.ts's narrow views (an object that does not parse
 * is logged and skipped, never trusted) and keep it frozen; the entries `resolveSandbox` decides
 * on are projected from those parsed objects when a request asks.
 */
import { Labels } from '@sandbank/api';
import { createInformer, PODS, SANDBOX_CLAIMS, SANDBOXES } from '@sandbank/kube';
import type { Cache, Informer, KubeConfig, KubeObject, ResourceType } from '@sandbank/kube';
import type { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import {
  ClaimView,
  PodView,
  SandboxView,
  claimEntry,
  oomKilledAfter,
  podEntry,
  resolveSandbox,
  sandboxEntry,
} from './model.js';
import type { PodRef, Resolution, SandboxRef } from './model.js';
import { PodChanges } from './pod-changes.js';

/** What the HTTP, WebSocket and gRPC handlers need from resolution, and nothing more. */
export interface SandboxLookup {
  resolve(ref: SandboxRef): Resolution;
  /** True once every cache has listed once. */
  hasSynced(): boolean;
  /**
   * Whether the Pod `pod` (still by its UID) records an OOM kill later than `afterMs` (undefined:
   * any), now or within `waitMs` as the cache changes; false at once when `signal` aborts.
   */
  oomKilledAfter(
    pod: PodRef,
    afterMs: number | undefined,
    waitMs: number,
    signal: AbortSignal,
  ): Promise<boolean>;
  close(): Promise<void>;
}

export interface ClusterLookupOptions {
  readonly kc: KubeConfig;
  /** Watched namespaces; empty: all. */
  readonly namespaces: readonly string[];
  readonly log: Logger;
  /** Backoff of the informers after a failed list or watch (see @sandbank/kube's informer). */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Called after any cached object changed (tests wait on it instead of sleeping). */
  readonly onChange?: () => void;
}

/** Every cache's index by UID (owner references name their owner by UID). */
const BY_UID = 'uid';

/**
 * Pods worth caching: those of a sandbox, and never an unclaimed warm one. The server filters, so
 * the cache stays as small as the number of live sandboxes. Anyone who may edit a Pod can set
 * these labels, so the selector only narrows the watch; `resolveSandbox` decides by controller UIDs.
 */
export const ROUTABLE_POD_SELECTOR = `${Labels.sandboxNameHash},!${Labels.pool}`;

export function createClusterLookup(opts: ClusterLookupOptions): SandboxLookup {
  const scopes = opts.namespaces.length === 0 ? [''] : opts.namespaces;
  const informers = <T extends KubeObject>(
    type: ResourceType<true>,
    schema: z.ZodType<T>,
    labelSelector?: string,
    indexers?: Record<string, (obj: T) => string[]>,
  ): Informer<T>[] =>
    scopes.map((namespace) =>
      createInformer(opts.kc, {
        type,
        schema,
        namespace,
        log: opts.log,
        ...(indexers === undefined ? {} : { indexers }),
        ...(labelSelector === undefined ? {} : { labelSelector }),
        ...(opts.backoff === undefined
          ? {}
          : { backoffInitialMs: opts.backoff.initialMs, backoffMaxMs: opts.backoff.maxMs }),
      }),
    );

  // Only claims are looked up by UID (a Sandbox's controller reference); the other caches need no index.
  const claims = informers(SANDBOX_CLAIMS, ClaimView, undefined, { [BY_UID]: (obj) => [obj.metadata.uid] });
  const sandboxes = informers(SANDBOXES, SandboxView);
  const pods = informers(PODS, PodView, ROUTABLE_POD_SELECTOR);
  const all: Informer<KubeObject>[] = [...claims, ...sandboxes, ...pods];
  const podChanges = new PodChanges();
  for (const informer of pods) informer.onEvent((event) => podChanges.changed(event.obj.metadata));
  const onChange = opts.onChange;
  for (const informer of all) {
    if (onChange !== undefined) informer.onEvent(() => onChange());
    informer.start().catch((err: unknown) => opts.log.error({ err }, 'informer did not start'));
  }

  /** The object from whichever namespace's cache holds it (at most one does). */
  const find = <T extends KubeObject, E>(
    caches: readonly Cache<T>[],
    project: (obj: T) => E,
    namespace: string,
    name: string,
  ): E | undefined => {
    for (const cache of caches) {
      const hit = cache.get(namespace, name);
      if (hit !== undefined) return project(hit);
    }
    return undefined;
  };
  const watched = (ns: string): boolean => opts.namespaces.length === 0 || opts.namespaces.includes(ns);

  return {
    resolve(ref) {
      if (!watched(ref.namespace)) {
        return { kind: 'not_found', message: `namespace ${ref.namespace} is not served by this router` };
      }
      return resolveSandbox(
        {
          claim: (ns, name) => find(claims, claimEntry, ns, name),
          claimByUid: (ns, uid) => {
            const hit = claims
              .flatMap((c) => c.byIndex(BY_UID, uid))
              .find((c) => c.metadata.namespace === ns);
            return hit === undefined ? undefined : claimEntry(hit);
          },
          sandbox: (ns, name) => find(sandboxes, sandboxEntry, ns, name),
          pod: (ns, name) => find(pods, podEntry, ns, name),
        },
        ref,
      );
    },
    hasSynced: () => all.every((informer) => informer.hasSynced()),
    oomKilledAfter: (pod, afterMs, waitMs, signal) =>
      podChanges.until(
        pod,
        () => oomKilledAfter(find(pods, podEntry, pod.namespace, pod.name), pod, afterMs),
        waitMs,
        signal,
      ),
    close() {
      for (const informer of all) informer.stop();
      return Promise.resolve();
    },
  };
}
