/** `SandboxWarmPool` (extensions.agents.x-k8s.io/v1alpha1): keeps N ready Pods of a template. */
import { z } from 'zod';
import type { CrdDefinition } from '../crd-definition.js';
import { SandboxTemplateRef, int32, resourceSchema } from './common.js';
import { EXTENSIONS_API_VERSION, EXTENSIONS_GROUP, EXTENSIONS_VERSION } from './sandbox-template.js';

export const SANDBOX_WARM_POOL_KIND = 'SandboxWarmPool';
export const SANDBOX_WARM_POOL_PLURAL = 'sandboxwarmpools';

export const WarmPoolUpdateStrategyType = z.enum(['OnReplenish', 'Recreate']);
export type WarmPoolUpdateStrategyType = z.infer<typeof WarmPoolUpdateStrategyType>;

export const SandboxWarmPoolSpec = z.strictObject({
  replicas: int32().min(0).describe('How many unclaimed, ready Pods to keep.'),
  sandboxTemplateRef: SandboxTemplateRef,
  updateStrategy: z
    .strictObject({
      type: WarmPoolUpdateStrategyType.default('OnReplenish').describe(
        'When the template changes: OnReplenish replaces members as they are claimed; Recreate replaces unclaimed members at once.',
      ),
    })
    .optional(),
});
export type SandboxWarmPoolSpec = z.infer<typeof SandboxWarmPoolSpec>;

/**
 * The one status of both versions (see `status.ts`): `observedGeneration` came with v1beta1 and is
 * declared here too, or the API server would prune it from every v1alpha1 read and status write.
 */
export const SandboxWarmPoolStatus = z.strictObject({
  replicas: int32().min(0).optional().describe('Unclaimed members that are not terminating.'),
  readyReplicas: int32().min(0).optional().describe('Unclaimed members that are Ready.'),
  selector: z.string().optional().describe('Label selector of the members (scale subresource).'),
  observedGeneration: z.int().min(0).optional().describe('The pool generation the controller last acted on.'),
});
export type SandboxWarmPoolStatus = z.infer<typeof SandboxWarmPoolStatus>;

export const SandboxWarmPool = resourceSchema(
  EXTENSIONS_API_VERSION,
  SANDBOX_WARM_POOL_KIND,
  SandboxWarmPoolSpec,
  SandboxWarmPoolStatus,
);
export type SandboxWarmPool = z.infer<typeof SandboxWarmPool>;

export const sandboxWarmPoolCrd: CrdDefinition = {
  group: EXTENSIONS_GROUP,
  version: EXTENSIONS_VERSION,
  kind: SANDBOX_WARM_POOL_KIND,
  plural: SANDBOX_WARM_POOL_PLURAL,
  singular: 'sandboxwarmpool',
  shortNames: ['swp'],
  description: 'A SandboxWarmPool keeps pre-started Pods of a template ready for claims.',
  schema: SandboxWarmPool,
  subresources: {
    status: true,
    scale: {
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    },
  },
  printerColumns: [
    { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
    { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
    { name: 'Template', type: 'string', jsonPath: '.spec.sandboxTemplateRef.name' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
