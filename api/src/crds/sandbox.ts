/** `Sandbox` (agents.x-k8s.io/v1alpha1): one Pod, stable identity, lifecycle. */
import { z } from 'zod';
import { Conditions } from '../conditions.js';
import type { CrdDefinition } from '../crd-definition.js';
import { PodTemplate, Timestamp, VolumeClaimTemplates, int32, resourceSchema } from './common.js';

export const SANDBOX_GROUP = 'agents.x-k8s.io';
export const SANDBOX_VERSION = 'v1alpha1';
export const SANDBOX_API_VERSION = `${SANDBOX_GROUP}/${SANDBOX_VERSION}`;
export const SANDBOX_KIND = 'Sandbox';
export const SANDBOX_PLURAL = 'sandboxes';

export const SandboxShutdownPolicy = z.enum(['Delete', 'Retain']);
export type SandboxShutdownPolicy = z.infer<typeof SandboxShutdownPolicy>;

export const SandboxSpec = z
  .strictObject({
    podTemplate: PodTemplate.describe(
      'The Pod this sandbox runs: its spec and the labels and annotations it gets.',
    ),
    volumeClaimTemplates: VolumeClaimTemplates.optional().describe(
      'PersistentVolumeClaims created for this sandbox, one per entry. Immutable.',
    ),
    replicas: int32()
      .min(0)
      .max(1)
      .default(1)
      .describe('1 runs the sandbox; 0 suspends it (the Pod is deleted, the Sandbox and its volumes stay).'),
    shutdownTime: Timestamp.optional().describe('When the sandbox expires; then shutdownPolicy applies.'),
    shutdownPolicy: SandboxShutdownPolicy.default('Retain').describe(
      'What happens at shutdownTime: Delete removes the Sandbox, Retain keeps it with Ready=False/SandboxExpired.',
    ),
    service: z
      .boolean()
      .optional()
      .describe(
        'true: keep a headless Service named like the sandbox; false: delete it; unset: leave as is.',
      ),
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'has(self.volumeClaimTemplates) == has(oldSelf.volumeClaimTemplates) && (!has(self.volumeClaimTemplates) || self.volumeClaimTemplates == oldSelf.volumeClaimTemplates)',
        message: 'volumeClaimTemplates is immutable',
      },
    ],
  });
export type SandboxSpec = z.infer<typeof SandboxSpec>;

export const SandboxStatus = z.strictObject({
  conditions: Conditions.optional(),
  podIPs: z.array(z.string()).optional().describe('IPs of the Pod; empty while there is none.'),
  nodeName: z.string().optional().describe('Node the Pod runs on.'),
  service: z.string().optional().describe('Name of the headless Service, if any.'),
  serviceFQDN: z.string().optional().describe('DNS name of the headless Service, if any.'),
  replicas: int32().min(0).optional().describe('1 while a Pod exists, else 0 (scale subresource).'),
  selector: z.string().optional().describe('Label selector of the Pod (scale subresource).'),
});
export type SandboxStatus = z.infer<typeof SandboxStatus>;

export const Sandbox = resourceSchema(SANDBOX_API_VERSION, SANDBOX_KIND, SandboxSpec, SandboxStatus);
export type Sandbox = z.infer<typeof Sandbox>;

export const SandboxConditionType = {
  /** The summary: True when the Pod is Running, Ready and has an IP. */
  Ready: 'Ready',
  /** True once the Pod reached a terminal phase (Succeeded or Failed). */
  Finished: 'Finished',
  /** True while replicas is 0 and the Pod is gone. */
  Suspended: 'Suspended',
  /** The Pod's own PodScheduled condition, copied while the Sandbox has a Pod (as upstream). */
  PodScheduled: 'PodScheduled',
} as const;
export type SandboxConditionType = (typeof SandboxConditionType)[keyof typeof SandboxConditionType];

export const SandboxReadyReason = {
  /** Pod Running, Ready, with an IP (and the Service, when asked for). */
  DependenciesReady: 'DependenciesReady',
  /** Pod (or Service) not there or not ready yet; the message says which. */
  DependenciesNotReady: 'DependenciesNotReady',
  /** replicas is 0. */
  SandboxSuspended: 'SandboxSuspended',
  PodSucceeded: 'PodSucceeded',
  PodFailed: 'PodFailed',
  /** shutdownTime passed with shutdownPolicy Retain. */
  SandboxExpired: 'SandboxExpired',
  /** The reconciler hit an error it keeps retrying; the message has it. */
  ReconcilerError: 'ReconcilerError',
  /** The sandbox profile forbids the pod template; no Pod is created (the message names each field). */
  TemplateRejected: 'TemplateRejected',
} as const;
export type SandboxReadyReason = (typeof SandboxReadyReason)[keyof typeof SandboxReadyReason];

export const SandboxSuspendedReason = {
  PodTerminated: 'PodTerminated',
  PodTerminating: 'PodTerminating',
  NotSuspended: 'NotSuspended',
} as const;
export type SandboxSuspendedReason = (typeof SandboxSuspendedReason)[keyof typeof SandboxSuspendedReason];

export const sandboxCrd: CrdDefinition = {
  group: SANDBOX_GROUP,
  version: SANDBOX_VERSION,
  kind: SANDBOX_KIND,
  plural: SANDBOX_PLURAL,
  singular: 'sandbox',
  shortNames: ['sandbox', 'sbx'],
  description: 'A Sandbox is one isolated Pod with a stable name and a lifecycle.',
  schema: Sandbox,
  subresources: {
    status: true,
    scale: {
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    },
  },
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
    { name: 'Node', type: 'string', jsonPath: '.status.nodeName', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
