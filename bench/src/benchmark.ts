/** What a benchmark module exports (default export of `bench/benchmarks/*.bench.ts`). */
import type { ResultInput } from './result.js';

export interface BenchContext {
  /** Admin kubeconfig of a real control plane (etcd + kube-apiserver, CRDs applied), when `needs` asked for one. */
  readonly kubeconfigPath?: string;
  /** Progress lines for long runs; they go to stderr so stdout stays machine-readable. */
  readonly log: (line: string) => void;
}

export interface Benchmark {
  /** Shown in progress output; results carry their own names. */
  readonly title: string;
  readonly needs: 'nothing' | 'control-plane';
  readonly run: (ctx: BenchContext) => Promise<readonly ResultInput[]>;
}
