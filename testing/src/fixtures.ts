/**
 * Objects the controller's process-level tests and benchmarks create on a real API server: a
 * namespace, the `gvisor` RuntimeClass (kwok runs no containers, so the handler only has to
 * exist), a template like the GKE guide's, a warm pool, claims; and list helpers.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  NodeV1Api,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';

/**
 * v1alpha1, served through the conversion webhook: for tests that write as v1alpha1 clients (a
 * claim naming its template, `warmpool`, a Sandbox's `replicas` exist only there).
 */
export const EXT = { group: 'extensions.agents.x-k8s.io', version: 'v1alpha1' } as const;
export const CORE_GROUP = { group: 'agents.x-k8s.io', version: 'v1alpha1' } as const;
/**
 * The storage version, as the controller and the router see the objects. The helpers below read
 * and write it (no webhook on the way) except `claimBody`/`createClaim`, which are v1alpha1.
 */
export const EXT_V1BETA1 = { group: 'extensions.agents.x-k8s.io', version: 'v1beta1' } as const;
export const CORE_GROUP_V1BETA1 = { group: 'agents.x-k8s.io', version: 'v1beta1' } as const;

export interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
}

/** An object as the API server returns it (so it has a name): the fields the tests read. */
export type Obj = KubernetesObject & {
  metadata: NonNullable<KubernetesObject['metadata']> & { name: string };
  spec?: Record<string, unknown>;
  status?: {
    conditions?: Condition[];
    readyReplicas?: number;
    replicas?: number;
    sandbox?: { name?: string };
    podIP?: string;
    phase?: string;
  };
};

export const isReady = (o: Obj | undefined): boolean =>
  o?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

export function collectionPaths(ns: string) {
  return {
    claims: `/apis/${EXT_V1BETA1.group}/${EXT_V1BETA1.version}/namespaces/${ns}/sandboxclaims`,
    pools: `/apis/${EXT_V1BETA1.group}/${EXT_V1BETA1.version}/namespaces/${ns}/sandboxwarmpools`,
    sandboxes: `/apis/${CORE_GROUP_V1BETA1.group}/${CORE_GROUP_V1BETA1.version}/namespaces/${ns}/sandboxes`,
    pods: `/api/v1/namespaces/${ns}/pods`,
  };
}

const ignoreConflict = (error: unknown) => {
  if ((error as { code?: unknown }).code !== 409) throw error;
};

export async function ensureRuntimeClass(kc: KubeConfig): Promise<void> {
  await kc
    .makeApiClient(NodeV1Api)
    .createRuntimeClass({ body: { metadata: { name: 'gvisor' }, handler: 'runsc' } })
    .then(() => undefined, ignoreConflict);
}

export async function createNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
}

/** Deletes the namespace without waiting for it to be gone. */
export async function deleteNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kc
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name })
    .catch(() => undefined);
}

/** A template like the GKE guide's: gvisor, one container with a readiness probe. */
export async function createTemplate(kc: KubeConfig, ns: string, name: string): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    ...EXT_V1BETA1,
    namespace: ns,
    plural: 'sandboxtemplates',
    body: {
      apiVersion: `${EXT_V1BETA1.group}/${EXT_V1BETA1.version}`,
      kind: 'SandboxTemplate',
      metadata: { name },
      spec: {
        podTemplate: {
          metadata: { labels: { sandbox: name } },
          spec: {
            runtimeClassName: 'gvisor',
            containers: [
              {
                name: 'runtime',
                image: 'registry.k8s.io/agent-sandbox/python-runtime-sandbox:v0.1.0',
                ports: [{ containerPort: 8888 }],
                readinessProbe: { httpGet: { path: '/', port: 8888 }, periodSeconds: 1 },
                resources: { requests: { cpu: '10m', memory: '16Mi' } },
              },
            ],
          },
        },
      },
    },
  });
}

export async function createPool(
  kc: KubeConfig,
  ns: string,
  name: string,
  template: string,
  replicas: number,
): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    ...EXT_V1BETA1,
    namespace: ns,
    plural: 'sandboxwarmpools',
    body: {
      apiVersion: `${EXT_V1BETA1.group}/${EXT_V1BETA1.version}`,
      kind: 'SandboxWarmPool',
      metadata: { name },
      spec: { replicas, sandboxTemplateRef: { name: template } },
    },
  });
}

export async function scalePool(kc: KubeConfig, ns: string, name: string, replicas: number): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).patchNamespacedCustomObject({
    ...EXT_V1BETA1,
    namespace: ns,
    plural: 'sandboxwarmpools',
    name,
    body: [{ op: 'replace', path: '/spec/replicas', value: replicas }],
  });
}

/** The warm pool, or undefined while it cannot be read (not created yet, a restarting server). */
export async function readPool(kc: KubeConfig, ns: string, name: string): Promise<Obj | undefined> {
  return (await kc
    .makeApiClient(CustomObjectsApi)
    .getNamespacedCustomObject({ ...EXT_V1BETA1, namespace: ns, plural: 'sandboxwarmpools', name })
    .catch(() => undefined)) as Obj | undefined;
}

/** What a warm pool's status lacks to report exactly `replicas` members, all Ready; undefined once it does. */
export function poolShortfall(pool: Obj | undefined, replicas: number): string | undefined {
  const s = pool?.status;
  return s?.readyReplicas === replicas && s.replicas === replicas
    ? undefined
    : `pool ${s?.readyReplicas ?? '?'}/${s?.replicas ?? '?'} ready, want ${replicas}`;
}

/** A v1alpha1 claim of a template (a v1beta1 claim names a pool: `poolClaimBody`). */
export function claimBody(name: string, template: string): Record<string, unknown> {
  return {
    apiVersion: `${EXT.group}/${EXT.version}`,
    kind: 'SandboxClaim',
    metadata: { name },
    spec: { sandboxTemplateRef: { name: template } },
  };
}

/** A v1beta1 claim: it names its pool, the template comes from the pool. */
export function poolClaimBody(name: string, pool: string): Record<string, unknown> {
  return {
    apiVersion: `${EXT_V1BETA1.group}/${EXT_V1BETA1.version}`,
    kind: 'SandboxClaim',
    metadata: { name },
    spec: { warmPoolRef: { name: pool } },
  };
}

export async function createClaim(kc: KubeConfig, ns: string, name: string, template: string): Promise<Obj> {
  return (await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    ...EXT,
    namespace: ns,
    plural: 'sandboxclaims',
    body: claimBody(name, template),
  })) as Obj;
}

export async function deleteAllClaims(kc: KubeConfig, ns: string): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).deleteCollectionNamespacedCustomObject({
    ...EXT_V1BETA1,
    namespace: ns,
    plural: 'sandboxclaims',
  });
}

export async function listClaims(kc: KubeConfig, ns: string): Promise<Obj[]> {
  const list = (await kc
    .makeApiClient(CustomObjectsApi)
    .listNamespacedCustomObject({ ...EXT_V1BETA1, namespace: ns, plural: 'sandboxclaims' })) as {
    items: Obj[];
  };
  return list.items;
}

export async function listSandboxes(kc: KubeConfig, ns: string): Promise<Obj[]> {
  const list = (await kc
    .makeApiClient(CustomObjectsApi)
    .listNamespacedCustomObject({ ...CORE_GROUP_V1BETA1, namespace: ns, plural: 'sandboxes' })) as {
    items: Obj[];
  };
  return list.items;
}

export async function listPods(kc: KubeConfig, ns: string): Promise<Obj[]> {
  return (await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns })).items as unknown as Obj[];
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Polls `check` (bounded) until it returns undefined; on timeout throws its last complaint. */
export async function eventually(
  what: string,
  check: () => Promise<string | undefined>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem = await check();
    if (problem === undefined) return;
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${timeoutMs} ms: ${problem}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
