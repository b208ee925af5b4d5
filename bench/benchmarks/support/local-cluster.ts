/**
 * Shared by the benchmarks on the local one-node cluster (`needs: 'local-cluster'`, `make
 * bench-cluster`): the python-runtime pool `make up` installs in `default`, the router's address
 * and token, and waiting until the node is quiet between rounds.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { type KubeConfig, loadKubeConfig } from '@sandbank/kube';
import { EXT, type Obj, eventually, listPods } from '@sandbank/testing';
import type { BenchContext, LocalClusterContext } from '../../src/index.js';

export const NS = 'default';
export const POOL = 'python-runtime';
export const TEMPLATE = 'python-runtime';
export const SYSTEM_NS = 'sandbank-system';

export interface LocalCluster extends LocalClusterContext {
  readonly kc: KubeConfig;
}

/** The local cluster the runner was given; it passes one only to `needs: 'local-cluster'` benchmarks. */
export function localCluster({ localCluster: given }: BenchContext): LocalCluster {
  if (!given) throw new Error('needs the local cluster');
  return { ...given, kc: loadKubeConfig(given.kubeconfigPath) };
}

export interface RouterEndpoint {
  /** https://<ClusterIP of sandbox-router-svc>:8080: the host reaches ClusterIPs through kube-proxy's OUTPUT rules. */
  readonly url: string;
  readonly token: string;
  /** The CA of the router's certificate, which `make up` made for this cluster (in its state dir). */
  readonly caFile: string;
  readonly ca: Buffer;
}

export async function routerEndpoint({ kc, stateDir }: LocalCluster): Promise<RouterEndpoint> {
  const core = kc.makeApiClient(CoreV1Api);
  const svc = await core.readNamespacedService({ name: 'sandbox-router-svc', namespace: SYSTEM_NS });
  const secret = await core.readNamespacedSecret({ name: 'sandbox-router-auth', namespace: SYSTEM_NS });
  const token = secret.data?.['token'];
  if (!svc.spec?.clusterIP || !token) throw new Error('no router Service ClusterIP or token Secret');
  const caFile = join(stateDir, 'router-tls', 'ca.crt');
  return {
    url: `https://${svc.spec.clusterIP}:8080`,
    token: Buffer.from(token, 'base64').toString('utf8'),
    caFile,
    ca: readFileSync(caFile),
  };
}

/**
 * Until every pool member is Ready and no pod of the namespace is terminating: a sandbox being
 * torn down (runsc, CNI DEL) competes for the node's two cores with the next measurement.
 */
export async function waitQuiet(kc: KubeConfig, timeoutMs = 180_000): Promise<void> {
  const api = kc.makeApiClient(CustomObjectsApi);
  await eventually(
    `pool ${NS}/${POOL} full, nothing terminating`,
    async () => {
      const pool = (await api.getNamespacedCustomObject({
        ...EXT,
        namespace: NS,
        plural: 'sandboxwarmpools',
        name: POOL,
      })) as Obj;
      const want = Number(pool.spec?.['replicas'] ?? 0);
      const ready = pool.status?.readyReplicas ?? 0;
      const terminating = (await listPods(kc, NS)).filter((p) => p.metadata.deletionTimestamp).length;
      return ready === want && terminating === 0
        ? undefined
        : `${ready}/${want} ready, ${terminating} terminating`;
    },
    timeoutMs,
    100,
  );
}

export async function deleteClaim(kc: KubeConfig, name: string): Promise<void> {
  await kc
    .makeApiClient(CustomObjectsApi)
    .deleteNamespacedCustomObject({ ...EXT, namespace: NS, plural: 'sandboxclaims', name })
    .catch((error: unknown) => {
      if ((error as { code?: unknown }).code !== 404) throw error;
    });
}

/** The 1-minute load average, rounded: recorded with each result, since the machine is shared. */
export function load1(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

/** Params every local-cluster result carries. */
export function clusterParams(loadBefore: number): Record<string, string | number> {
  return {
    cluster: 'local one-node: kubelet + containerd 1.6 + runsc (systrap), Sandbank from make up',
    loadAvg1mBefore: loadBefore,
    loadAvg1mAfter: load1(),
  };
}
