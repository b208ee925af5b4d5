/**
 * Kubernetes core types embedded in our specs. zod checks only what Sandbank itself relies on and
 * keeps every other field; the CRD generator swaps each of these for the full OpenAPI schema of
 * the Kubernetes version we build (named by `k8sRef`), so the API server validates them exactly
 * as it validates the real objects.
 */
import { z } from 'zod';
import { ObjectMeta } from './meta.js';

/** Metadata key the CRD generator looks for; the value is an OpenAPI definition name. */
export const K8S_REF = 'k8sRef';

export const Container = z.looseObject({
  name: z.string(),
  image: z.string().optional(),
});
export type Container = z.infer<typeof Container>;

export const PodSpec = z
  .looseObject({
    containers: z.array(Container),
    initContainers: z.array(Container).optional(),
    runtimeClassName: z.string().optional(),
    automountServiceAccountToken: z.boolean().optional(),
    restartPolicy: z.string().optional(),
  })
  .meta({ [K8S_REF]: 'io.k8s.api.core.v1.PodSpec' });
export type PodSpec = z.infer<typeof PodSpec>;

export const PersistentVolumeClaimSpec = z
  .looseObject({})
  .meta({ [K8S_REF]: 'io.k8s.api.core.v1.PersistentVolumeClaimSpec' });

export const NetworkPolicyIngressRule = z
  .looseObject({})
  .meta({ [K8S_REF]: 'io.k8s.api.networking.v1.NetworkPolicyIngressRule' });

export const NetworkPolicyEgressRule = z
  .looseObject({})
  .meta({ [K8S_REF]: 'io.k8s.api.networking.v1.NetworkPolicyEgressRule' });

export const PodCondition = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
});

export const ContainerStatus = z.looseObject({
  name: z.string(),
  ready: z.boolean().optional(),
  restartCount: z.number().optional(),
  state: z.record(z.string(), z.unknown()).optional(),
  lastState: z.record(z.string(), z.unknown()).optional(),
});

export const PodStatus = z.looseObject({
  phase: z.string().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  conditions: z.array(PodCondition).optional(),
  podIP: z.string().optional(),
  podIPs: z.array(z.looseObject({ ip: z.string() })).optional(),
  hostIP: z.string().optional(),
  containerStatuses: z.array(ContainerStatus).optional(),
});

/**
 * A Pod as the controller and router read it from the API server: the spec is kept whole, the
 * status fields that decide readiness and routing are checked.
 */
export const Pod = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMeta,
  spec: PodSpec,
  status: PodStatus.optional(),
});
export type Pod = z.infer<typeof Pod>;
