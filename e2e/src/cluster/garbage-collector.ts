// Waits until kube-controller-manager's garbage collector watches the custom resources. It
// discovers new kinds on a periodic resync (every 30 s), so right after the CRDs are applied a
// claim's Sandbox would outlive the claim for up to that long; tests that delete a claim and
// expect the cascade would then see an outdated collector, not a bug of ours.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterBinary } from './paths.js';
import { run } from './process.js';

/**
 * One object of each custom kind that owns others in Sandbank (claims, sandboxes, pools,
 * templates), in the storage version: written before any conversion webhook is up.
 */
const OWNERS = [
  {
    resource: 'sandboxclaims.extensions.agents.x-k8s.io',
    body: {
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxClaim',
      spec: { warmPoolRef: { name: 'gc-probe' } },
    },
  },
  {
    resource: 'sandboxes.agents.x-k8s.io',
    body: {
      apiVersion: 'agents.x-k8s.io/v1beta1',
      kind: 'Sandbox',
      spec: {
        operatingMode: 'Suspended',
        podTemplate: { spec: { containers: [{ name: 'c', image: 'none' }] } },
      },
    },
  },
  {
    resource: 'sandboxwarmpools.extensions.agents.x-k8s.io',
    body: {
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxWarmPool',
      spec: { replicas: 0, sandboxTemplateRef: { name: 'gc-probe' } },
    },
  },
  {
    resource: 'sandboxtemplates.extensions.agents.x-k8s.io',
    body: {
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxTemplate',
      spec: {
        networkPolicyManagement: 'Unmanaged',
        podTemplate: { spec: { containers: [{ name: 'c', image: 'none' }] } },
      },
    },
  },
] as const;

const NAMESPACE = 'sandbank-gc-probe';

export async function waitForGarbageCollector(
  kubeconfigPath: string,
  opts: { timeoutSeconds?: number; onProgress?: (line: string) => void } = {},
): Promise<void> {
  const kubectl = clusterBinary('kubectl');
  const base = [`--kubeconfig=${kubeconfigPath}`];
  const dir = mkdtempSync(join(tmpdir(), 'sandbank-gc-'));
  const started = Date.now();
  try {
    await run(kubectl, [...base, 'create', 'namespace', NAMESPACE]);
    const dependents: string[] = [];
    for (const [i, owner] of OWNERS.entries()) {
      const name = `gc-probe-${i}`;
      const ownerFile = join(dir, `owner-${i}.json`);
      writeFileSync(ownerFile, JSON.stringify({ ...owner.body, metadata: { name, namespace: NAMESPACE } }));
      const uid = (
        await run(kubectl, [...base, 'create', '-f', ownerFile, '-o', 'jsonpath={.metadata.uid}'])
      ).stdout.trim();
      const dependentFile = join(dir, `dependent-${i}.json`);
      writeFileSync(
        dependentFile,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name,
            namespace: NAMESPACE,
            ownerReferences: [{ apiVersion: owner.body.apiVersion, kind: owner.body.kind, name, uid }],
          },
        }),
      );
      await run(kubectl, [...base, 'create', '-f', dependentFile]);
      await run(kubectl, [...base, '-n', NAMESPACE, 'delete', owner.resource, name, '--wait=false']);
      dependents.push(`configmap/${name}`);
    }
    const timeout = `--timeout=${opts.timeoutSeconds ?? 90}s`;
    await run(kubectl, [...base, '-n', NAMESPACE, 'wait', '--for=delete', timeout, ...dependents]);
    opts.onProgress?.(
      `[sandbank] garbage collector watches the CRDs (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await run(kubectl, [
      ...base,
      'delete',
      'namespace',
      NAMESPACE,
      '--wait=false',
      '--ignore-not-found',
    ]).catch(() => undefined);
  }
}
