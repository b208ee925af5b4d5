/**
 * `SandboxWarmPool` (extensions.agents.x-k8s.io/v1beta1): keeps N ready Pods of a template.
 * As v1alpha1, except that `replicas` is optional with default 1 (upstream v1.0).
 */
import type { z } from 'zod';
import type { CrdDefinition } from '../../crd-definition.js';
import { int32, resourceSchema } from '../common.js';
import {
  SANDBOX_WARM_POOL_KIND,
  SANDBOX_WARM_POOL_PLURAL,
  SandboxWarmPoolSpec as SandboxWarmPoolSpecV1alpha1,
  WarmPoolUpdateStrategyType,
  sandboxWarmPoolCrd as sandboxWarmPoolCrdV1alpha1,
} from '../sandbox-warm-pool.js';
import { SandboxWarmPoolStatus } from '../status.js';
import { EXTENSIONS_API_VERSION, EXTENSIONS_VERSION } from './versions.js';

export {
  SANDBOX_WARM_POOL_KIND,
  SANDBOX_WARM_POOL_PLURAL,
  WarmPoolUpdateStrategyType,
  SandboxWarmPoolStatus,
};

export const SandboxWarmPoolSpec = SandboxWarmPoolSpecV1alpha1.extend({
  replicas: int32()
    .min(0)
    .default(1)
    .describe('How many unclaimed, ready Pods to keep; 0 makes every claim of this pool a cold start.'),
});
export type SandboxWarmPoolSpec = z.infer<typeof SandboxWarmPoolSpec>;

export const SandboxWarmPool = resourceSchema(
  EXTENSIONS_API_VERSION,
  SANDBOX_WARM_POOL_KIND,
  SandboxWarmPoolSpec,
  SandboxWarmPoolStatus,
);
export type SandboxWarmPool = z.infer<typeof SandboxWarmPool>;

// The same kind as v1alpha1's (names, scale subresource); the template column moves to `-o wide`.
export const sandboxWarmPoolCrd: CrdDefinition = {
  ...sandboxWarmPoolCrdV1alpha1,
  version: EXTENSIONS_VERSION,
  schema: SandboxWarmPool,
  printerColumns: [
    { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
    { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
    { name: 'Template', type: 'string', jsonPath: '.spec.sandboxTemplateRef.name', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
