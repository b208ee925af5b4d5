/** Shared by the benchmarks on a bare control plane (`needs: 'control-plane'`). */
import { type KubeConfig, loadKubeConfig } from '@sandbank/kube';
import type { BenchContext } from '../../src/index.js';

export interface ControlPlane {
  /** Its admin kubeconfig file, for what runs in another process (the controller). */
  readonly kubeconfigPath: string;
  readonly kc: KubeConfig;
}

/** The control plane the runner started; it passes one only when `needs` asked for it. */
export function controlPlane({ kubeconfigPath }: BenchContext): ControlPlane {
  if (!kubeconfigPath) throw new Error('needs a control plane');
  return { kubeconfigPath, kc: loadKubeConfig(kubeconfigPath) };
}
