/** What a benchmark module exports (default export of `bench/benchmarks/*.bench.ts`). */
import type { ResultInput } from './result.js';

export interface BenchContext {
  /** Admin kubeconfig of a real control plane (etcd + kube-apiserver, CRDs applied), when `needs` asked for one. */
  readonly kubeconfigPath?: string;
  /** The local one-node cluster with Sandbank and the python-runtime pool, when `needs` asked for it. */
  readonly localCluster?: LocalClusterContext;
  /** Progress lines for long runs; they go to stderr so stdout stays machine-readable. */
  readonly log: (line: string) => void;
}

export interface LocalClusterContext {
  /** Admin kubeconfig of the cluster. */
  readonly kubeconfigPath: string;
  /** Its state dir (the runsc root, logs and containerd state are in it). */
  readonly stateDir: string;
}

export interface Benchmark {
  /** Shown in progress output; results carry their own names. */
  readonly title: string;
  /**
   * `local-cluster`: the real one-node cluster of `make up` (root, minutes); such benchmarks run
   * only with `--local-cluster` (`make bench-cluster`).
   */
  readonly needs: 'nothing' | 'control-plane' | 'local-cluster';
  readonly run: (ctx: BenchContext) => Promise<readonly ResultInput[]>;
}
