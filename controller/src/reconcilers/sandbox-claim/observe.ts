/** Reads, from the caches only, everything `planClaim` decides on. */
import { claimIntent, nameHash, type ObjectKey } from '@sandbank/api';
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
  const pools = caches.pools.list(key.namespace);
  const intent = claimIntent(claim);
  // A v1alpha1 claim named its template; a v1beta1 one gets it through its pool.
  const templateName =
    'invalid' in intent
      ? undefined
      : (intent.template ?? pools.find((p) => p.metadata.name === intent.pool)?.spec.sandboxTemplateRef.name);
  return {
    claim,
    template: templateName === undefined ? undefined : caches.templates.get(key.namespace, templateName),
    pools,
    sandbox: caches.sandboxes.get(key.namespace, key.name),
    boundPods: caches.pods.byIndex(Index.claimUid, claim.metadata.uid),
    templatePods:
      templateName === undefined
        ? []
        : caches.pods.byIndex(Index.templateHash, `${key.namespace}/${nameHash(templateName)}`),
    profile: profileOf(key.namespace),
  };
}
