/**
 * `Sandbox` (agents.x-k8s.io/v1beta1): one Pod, stable identity, lifecycle. Upstream v1.0's field
 * set: `operatingMode` replaces v1alpha1's `replicas`, and there is no scale subresource.
 */
import { z } from 'zod';
import type { CrdDefinition } from '../../crd-definition.js';
import {
  PodTemplate,
  Timestamp,
  VOLUME_CLAIM_TEMPLATES_IMMUTABLE,
  VolumeClaimTemplates,
  resourceSchema,
} from '../common.js';
import {
  SANDBOX_KIND,
  SANDBOX_PLURAL,
  SandboxConditionType,
  SandboxReadyReason,
  SandboxShutdownPolicy,
  SandboxSuspendedReason,
} from '../sandbox.js';
import { SandboxStatus } from '../status.js';
import { SANDBOX_API_VERSION, SANDBOX_GROUP, SANDBOX_VERSION } from './versions.js';

export { SANDBOX_GROUP, SANDBOX_VERSION, SANDBOX_API_VERSION };
export { SANDBOX_KIND, SANDBOX_PLURAL, SandboxConditionType, SandboxReadyReason, SandboxShutdownPolicy };
export { SandboxSuspendedReason, SandboxStatus };

export const SandboxOperatingMode = z.enum(['Running', 'Suspended']);
export type SandboxOperatingMode = z.infer<typeof SandboxOperatingMode>;

export const SandboxSpec = z
  .strictObject({
    podTemplate: PodTemplate.describe(
      'The Pod this sandbox runs: its spec and the labels and annotations it gets.',
    ),
    volumeClaimTemplates: VolumeClaimTemplates.optional().describe(
      'PersistentVolumeClaims created for this sandbox, one per entry. Immutable.',
    ),
    service: z
      .boolean()
      .optional()
      .describe(
        'true: keep a headless Service named like the sandbox; false: delete it; unset: leave as is.',
      ),
    shutdownTime: Timestamp.optional().describe('When the sandbox expires; then shutdownPolicy applies.'),
    shutdownPolicy: SandboxShutdownPolicy.default('Retain').describe(
      'What happens at shutdownTime: Delete removes the Sandbox, Retain keeps it with Ready=False/SandboxExpired.',
    ),
    operatingMode: SandboxOperatingMode.default('Running').describe(
      'Running keeps a Pod running; Suspended deletes the Pod and keeps the Sandbox and its volumes.',
    ),
  })
  .meta({ 'x-kubernetes-validations': [{ ...VOLUME_CLAIM_TEMPLATES_IMMUTABLE }] });
export type SandboxSpec = z.infer<typeof SandboxSpec>;

export const Sandbox = resourceSchema(SANDBOX_API_VERSION, SANDBOX_KIND, SandboxSpec, SandboxStatus);
export type Sandbox = z.infer<typeof Sandbox>;

export const sandboxCrd: CrdDefinition = {
  group: SANDBOX_GROUP,
  version: SANDBOX_VERSION,
  kind: SANDBOX_KIND,
  plural: SANDBOX_PLURAL,
  singular: 'sandbox',
  shortNames: ['sandbox', 'sbx'],
  description: 'A Sandbox is one isolated Pod with a stable name and a lifecycle.',
  schema: Sandbox,
  // As upstream v1.0: no scale subresource (operatingMode is not a replica count).
  subresources: { status: true },
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
    { name: 'Node', type: 'string', jsonPath: '.status.nodeName', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
