/** What every reconciler is built from: caches to read, a client to write, events, a clock. */
import type { Pod, Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool } from '@sandbank/api';
import type { Cache, EventRecorder, Informer, KubeClient, KubeObject } from '@sandbank/kube';
import type { ControllerMetrics } from '../observability/metrics.js';
import type { Expectations } from '../runtime/expectations.js';
import type { SandboxProfile } from './shared/pure-profile.js';
import type { RouterPeer } from './sandbox-template/plan.js';

/** A NetworkPolicy, Service or PVC as far as the reconcilers care: metadata and an opaque spec. */
export interface OpaqueObject extends KubeObject {
  readonly spec?: unknown;
}

/** Every kind the controller caches, by the name of its cache. */
export interface CachedKinds {
  readonly claims: SandboxClaim;
  readonly sandboxes: Sandbox;
  readonly templates: SandboxTemplate;
  readonly pools: SandboxWarmPool;
  readonly pods: Pod;
  readonly services: OpaqueObject;
  readonly networkPolicies: OpaqueObject;
  readonly persistentVolumeClaims: OpaqueObject;
}

/** The name of one cache (and of the informer that fills it). */
export type Source = keyof CachedKinds;

export type Caches = { readonly [S in Source]: Cache<CachedKinds[S]> };

/** One informer per cache, each feeding its cache. */
export type Informers = { readonly [S in Source]: Informer<CachedKinds[S]> };

export interface ReconcilerDeps {
  readonly caches: Caches;
  readonly client: KubeClient;
  readonly events: EventRecorder;
  readonly metrics: ControllerMetrics;
  /** Pending pod creates/deletes per pool key. */
  readonly poolExpectations: Expectations;
  readonly now: () => Date;
  /** Labels and namespaces of the router's Pods, for template NetworkPolicies. */
  readonly router: RouterPeer;
  readonly clusterDomain: string;
  /** The sandbox profile of a namespace: the cluster's settings plus its relaxation labels. */
  readonly profileOf: (namespace: string) => SandboxProfile;
}
