/** `SandboxTemplate` (extensions.agents.x-k8s.io/v1alpha1): the blueprint claims and pools use. */
import { z } from 'zod';
import type { CrdDefinition } from '../crd-definition.js';
import { NetworkPolicyEgressRule, NetworkPolicyIngressRule } from '../kubernetes-types.js';
import { PodTemplate, VolumeClaimTemplates, statuslessResourceSchema } from './common.js';

export const EXTENSIONS_GROUP = 'extensions.agents.x-k8s.io';
export const EXTENSIONS_VERSION = 'v1alpha1';
export const EXTENSIONS_API_VERSION = `${EXTENSIONS_GROUP}/${EXTENSIONS_VERSION}`;
export const SANDBOX_TEMPLATE_KIND = 'SandboxTemplate';
export const SANDBOX_TEMPLATE_PLURAL = 'sandboxtemplates';

export const NetworkPolicyManagement = z.enum(['Managed', 'Unmanaged']);
export type NetworkPolicyManagement = z.infer<typeof NetworkPolicyManagement>;

export const EnvVarsInjectionPolicy = z.enum(['Allowed', 'Overrides', 'Disallowed']);
export type EnvVarsInjectionPolicy = z.infer<typeof EnvVarsInjectionPolicy>;

/** Extra rules for the template's NetworkPolicy; Sandbank owns its podSelector and policyTypes. */
export const SandboxNetworkPolicy = z.strictObject({
  ingress: z.array(NetworkPolicyIngressRule).optional().describe('Ingress allowed on top of the router.'),
  egress: z.array(NetworkPolicyEgressRule).optional().describe('Egress allowed; none by default.'),
});
export type SandboxNetworkPolicy = z.infer<typeof SandboxNetworkPolicy>;

export const SandboxTemplateSpec = z.strictObject({
  podTemplate: PodTemplate.describe('The Pod every sandbox of this template runs.'),
  volumeClaimTemplates: VolumeClaimTemplates.optional().describe('PersistentVolumeClaims each sandbox gets.'),
  service: z.boolean().optional().describe('Whether sandboxes of this template get a headless Service.'),
  networkPolicy: SandboxNetworkPolicy.optional(),
  networkPolicyManagement: NetworkPolicyManagement.default('Managed').describe(
    'Managed: Sandbank keeps a default-deny NetworkPolicy for these pods (router ingress plus networkPolicy). Unmanaged: none.',
  ),
  envVarsInjectionPolicy: EnvVarsInjectionPolicy.default('Disallowed').describe(
    'Whether claims may set environment variables: Disallowed, Allowed (new names only) or Overrides.',
  ),
});
export type SandboxTemplateSpec = z.infer<typeof SandboxTemplateSpec>;

export const SandboxTemplate = statuslessResourceSchema(
  EXTENSIONS_API_VERSION,
  SANDBOX_TEMPLATE_KIND,
  SandboxTemplateSpec,
);
export type SandboxTemplate = z.infer<typeof SandboxTemplate>;

export const sandboxTemplateCrd: CrdDefinition = {
  group: EXTENSIONS_GROUP,
  version: EXTENSIONS_VERSION,
  kind: SANDBOX_TEMPLATE_KIND,
  plural: SANDBOX_TEMPLATE_PLURAL,
  singular: 'sandboxtemplate',
  shortNames: ['sandboxtemplate', 'sbt'],
  description: 'A SandboxTemplate is the blueprint (pod template, volumes, network policy) of sandboxes.',
  schema: SandboxTemplate,
  subresources: { status: false },
  printerColumns: [
    { name: 'NetworkPolicy', type: 'string', jsonPath: '.spec.networkPolicyManagement' },
    { name: 'Env', type: 'string', jsonPath: '.spec.envVarsInjectionPolicy', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
