/** Reads, from the caches only, everything `planClaim` decides on. */
import { nameHash, type ObjectKey } from '@sandbank/api';
import type { Caches } from '../deps.js';
import type { SandboxProfile } from '../shared/pure-profile.js';
import { Index } from '../indexes.js';
import type { ClaimObserved } from './plan.js';

export function observeClaim(
  caches: Caches,
  key: ObjectKey,
  profileOf: (namespace: string) => SandboxProfile,
): ClaimObserved | undefined {
  const claim = caches.claims.get(key.namespace, key.name);
  if (!claim) return undefined;
  const templateName = claim.spec.sandboxTemplateRef.name;
  return {
    claim,
    template: caches.templates.get(key.namespace, templateName),
    pools: caches.pools.list(key.namespace),
    sandbox: caches.sandboxes.get(key.namespace, key.name),
    boundPods: caches.pods.byIndex(Index.claimUid, claim.metadata.uid),
    templatePods: caches.pods.byIndex(Index.templateHash, `${key.namespace}/${nameHash(templateName)}`),
    profile: profileOf(key.namespace),
  };
}
