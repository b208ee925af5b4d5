/**
 * `SandboxTemplate` (extensions.agents.x-k8s.io/v1beta1): the blueprint claims and pools use.
 * v1alpha1's fields plus `volumeClaimTemplatesPolicy`.
 */
import { z } from 'zod';
import type { CrdDefinition } from '../../crd-definition.js';
import {
  EnvVarsInjectionPolicy,
  NetworkPolicyManagement,
  SANDBOX_TEMPLATE_KIND,
  SANDBOX_TEMPLATE_PLURAL,
  SandboxNetworkPolicy,
  SandboxTemplateSpec as SandboxTemplateSpecV1alpha1,
  sandboxTemplateCrd as sandboxTemplateCrdV1alpha1,
} from '../sandbox-template.js';
import { statuslessResourceSchema } from '../common.js';
import { EXTENSIONS_API_VERSION, EXTENSIONS_GROUP, EXTENSIONS_VERSION } from './versions.js';

export { EXTENSIONS_GROUP, EXTENSIONS_VERSION, EXTENSIONS_API_VERSION };
export { SANDBOX_TEMPLATE_KIND, SANDBOX_TEMPLATE_PLURAL };
export { EnvVarsInjectionPolicy, NetworkPolicyManagement, SandboxNetworkPolicy };

export const VolumeClaimTemplatesPolicy = z.enum(['Disallowed', 'Allowed', 'Overrides']);
export type VolumeClaimTemplatesPolicy = z.infer<typeof VolumeClaimTemplatesPolicy>;

export const SandboxTemplateSpec = SandboxTemplateSpecV1alpha1.extend({
  volumeClaimTemplatesPolicy: VolumeClaimTemplatesPolicy.default('Disallowed').describe(
    "Whether claims may set volumeClaimTemplates: Disallowed, Allowed (added to the template's) or Overrides (replace entries of the same name).",
  ),
});
export type SandboxTemplateSpec = z.infer<typeof SandboxTemplateSpec>;

export const SandboxTemplate = statuslessResourceSchema(
  EXTENSIONS_API_VERSION,
  SANDBOX_TEMPLATE_KIND,
  SandboxTemplateSpec,
);
export type SandboxTemplate = z.infer<typeof SandboxTemplate>;

// The same kind as v1alpha1's (names, no status); only the schema and the columns differ.
export const sandboxTemplateCrd: CrdDefinition = {
  ...sandboxTemplateCrdV1alpha1,
  version: EXTENSIONS_VERSION,
  schema: SandboxTemplate,
  // Upstream shows only Age; Sandbank's extra columns are for `-o wide`.
  printerColumns: [
    { name: 'NetworkPolicy', type: 'string', jsonPath: '.spec.networkPolicyManagement', priority: 1 },
    { name: 'Env', type: 'string', jsonPath: '.spec.envVarsInjectionPolicy', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
