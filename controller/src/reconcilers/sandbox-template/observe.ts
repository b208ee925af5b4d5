/** Reads, from the caches only, everything `planTemplate` decides on. */
import { controllerOf, type ObjectKey } from '@sandbank/api';
import type { Caches } from '../deps.js';
import type { SandboxProfile } from '../shared/pure-profile.js';
import { networkPolicyName, SPEC_HASH_ANNOTATION, type RouterPeer, type TemplateObserved } from './plan.js';

export function observeTemplate(
  caches: Caches,
  key: ObjectKey,
  router: RouterPeer,
  profileOf: (namespace: string) => SandboxProfile,
): TemplateObserved | undefined {
  const template = caches.templates.get(key.namespace, key.name);
  if (!template) return undefined;
  const policy = caches.networkPolicies.get(key.namespace, networkPolicyName(key.name));
  return {
    template,
    policy: policy
      ? {
          name: policy.metadata.name,
          specHash: policy.metadata.annotations?.[SPEC_HASH_ANNOTATION],
          controlledByTemplate: controllerOf(policy.metadata)?.uid === template.metadata.uid,
        }
      : undefined,
    router,
    profile: profileOf(key.namespace),
  };
}
