/** What every reconciler is built from: caches to read, a client to write, events, a clock. */
import type { Pod, Sandbox, SandboxClaim, SandboxTemplate, SandboxWarmPool } from '@sandbank/api';
import type { Cache, EventRecorder, KubeClient, KubeObject } from '@sandbank/kube';
import type { ControllerMetrics } from '../observability/metrics.js';
import type { Expectations } from '../runtime/expectations.js';

export type Cached<T> = T & KubeObject;

/** A NetworkPolicy, Service or PVC as far as the reconcilers care: metadata and an opaque spec. */
export interface OpaqueObject extends KubeObject {
  readonly spec?: unknown;
}

export interface Caches {
  readonly claims: Cache<Cached<SandboxClaim>>;
  readonly sandboxes: Cache<Cached<Sandbox>>;
  readonly templates: Cache<Cached<SandboxTemplate>>;
  readonly pools: Cache<Cached<SandboxWarmPool>>;
  readonly pods: Cache<Cached<Pod>>;
  readonly services: Cache<OpaqueObject>;
  readonly networkPolicies: Cache<OpaqueObject>;
  readonly persistentVolumeClaims: Cache<OpaqueObject>;
}

export interface ReconcilerDeps {
  readonly caches: Caches;
  readonly client: KubeClient;
  readonly events: EventRecorder;
  readonly metrics: ControllerMetrics;
  /** Pending pod creates/deletes per pool key. */
  readonly poolExpectations: Expectations;
  readonly now: () => Date;
  /** Labels and namespace of the router's Pods, for template NetworkPolicies. */
  readonly router: {
    readonly podLabels: Readonly<Record<string, string>>;
    readonly namespace: string | undefined;
  };
  readonly clusterDomain: string;
}
