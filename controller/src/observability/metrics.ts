/**
 * The controller's Prometheus metrics, behind a typed `ControllerMetrics` object so label names
 * and values cannot drift between call sites. Label values come from closed sets (controller
 * names, result labels, launch types) or from pool identity — never from claim names, UIDs or
 * raw error text, which would make series unbounded.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type LaunchType = 'warm' | 'cold';

export interface ControllerMetrics {
  readonly registry: Registry;
  /** One finished reconcile pass; `result` is `resultLabel()` of runtime/result.ts. */
  reconcile(controller: string, result: string, seconds: number): void;
  /** Keys ready in the controller's work queue. */
  workqueueDepth(controller: string, depth: number): void;
  /** Claim creation to claim `Ready=True` as the controller observed it. */
  claimReady(launchType: LaunchType, seconds: number): void;
  /** A pool's desired (`spec.replicas`) and ready warm pods. */
  poolReplicas(
    namespace: string,
    pool: string,
    counts: { readonly desired: number; readonly ready: number },
  ): void;
  /** Drops a deleted pool's series so it does not report its last values forever. */
  forgetPool(namespace: string, pool: string): void;
}

/**
 * Reconcile duration buckets: a warm bind is three writes of ~4 ms, a cache-only pass well under
 * a millisecond, a slow apiserver seconds. Dense below 100 ms where the targets live; 15 buckets
 * per (controller, result) pair keeps the series count small.
 */
const RECONCILE_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Claim-ready buckets from 1 ms to 10 s: fine (1–2 ms steps) up to 20 ms so a p50 target of
 * 15 ms and a p99 of 45 ms can be read off the histogram, coarser above for cold starts (image
 * pull and pod start take seconds).
 */
export const CLAIM_READY_BUCKETS = [
  0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.012, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06,
  0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10,
];

export interface MetricsOptions {
  /** Also export process and Node.js runtime metrics (heap, RSS, event loop lag). Default true. */
  readonly defaultMetrics?: boolean;
}

/** A fresh registry holding every controller metric (one per process; tests make their own). */
export function createMetrics(opts: MetricsOptions = {}): ControllerMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  const reconcileTotal = new Counter({
    name: 'sandbank_reconcile_total',
    help: 'Reconcile passes by controller and result (success, requeue_after, retry_after, error, terminal_error).',
    labelNames: ['controller', 'result'] as const,
    registers: [registry],
  });
  const reconcileDuration = new Histogram({
    name: 'sandbank_reconcile_duration_seconds',
    help: 'Duration of reconcile passes by controller and result.',
    labelNames: ['controller', 'result'] as const,
    buckets: RECONCILE_BUCKETS,
    registers: [registry],
  });
  const depth = new Gauge({
    name: 'sandbank_workqueue_depth',
    help: 'Keys waiting in a controller work queue (ready, not delayed, not in flight).',
    labelNames: ['controller'] as const,
    registers: [registry],
  });
  const claimReady = new Histogram({
    name: 'sandbank_claim_ready_latency_seconds',
    help: 'Time from SandboxClaim creation to its Ready=True status, by launch type (warm: an adopted warm pod; cold: a new pod).',
    labelNames: ['launch_type'] as const,
    buckets: CLAIM_READY_BUCKETS,
    registers: [registry],
  });
  const poolReplicas = new Gauge({
    name: 'sandbank_pool_replicas',
    help: 'Warm pool replicas: state=desired is spec.replicas, state=ready the unclaimed Ready pods.',
    labelNames: ['namespace', 'pool', 'state'] as const,
    registers: [registry],
  });

  return {
    registry,
    reconcile(controller, result, seconds) {
      reconcileTotal.inc({ controller, result });
      reconcileDuration.observe({ controller, result }, seconds);
    },
    workqueueDepth(controller, n) {
      depth.set({ controller }, n);
    },
    claimReady(launchType, seconds) {
      claimReady.observe({ launch_type: launchType }, seconds);
    },
    poolReplicas(namespace, pool, counts) {
      poolReplicas.set({ namespace, pool, state: 'desired' }, counts.desired);
      poolReplicas.set({ namespace, pool, state: 'ready' }, counts.ready);
    },
    forgetPool(namespace, pool) {
      poolReplicas.remove({ namespace, pool, state: 'desired' });
      poolReplicas.remove({ namespace, pool, state: 'ready' });
    },
  };
}
