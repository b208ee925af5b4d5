/** The pinned kubectl against the integration control plane (SANDBANK_KUBECONFIG). */
import { spawnSync } from 'node:child_process';
import { clusterBinary } from '@sandbank/e2e';

export interface KubectlResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function kubectl(args: readonly string[], input?: string): KubectlResult {
  const kubeconfig = process.env['SANDBANK_KUBECONFIG'];
  if (!kubeconfig) throw new Error('SANDBANK_KUBECONFIG is not set: run in the jest `integration` project');
  const r = spawnSync(clusterBinary('kubectl'), ['--kubeconfig', kubeconfig, ...args], {
    input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs kubectl and throws with its stderr when it fails. */
export function kubectlOk(args: readonly string[], input?: string): string {
  const r = kubectl(args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
