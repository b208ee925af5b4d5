/** Reads, from the caches only, everything `planSandbox` decides on. */
import { controllerOf, type ObjectKey } from '@sandbank/api';
import type { Caches } from '../deps.js';
import type { SandboxProfile } from '../shared/pure-profile.js';
import { podNameOf, sandboxVolumes, type SandboxObserved } from './plan.js';

export function observeSandbox(
  caches: Caches,
  key: ObjectKey,
  clusterDomain: string,
  profileOf: (namespace: string) => SandboxProfile,
): SandboxObserved | undefined {
  const sandbox = caches.sandboxes.get(key.namespace, key.name);
  if (!sandbox) return undefined;
  const service = caches.services.get(key.namespace, key.name);
  const wanted = sandboxVolumes(sandbox).map((v) => v.claimName);
  return {
    sandbox,
    pod: caches.pods.get(key.namespace, podNameOf(sandbox)),
    service: service ? { controllerUid: controllerOf(service.metadata)?.uid } : undefined,
    existingClaims: new Map(
      wanted.flatMap((name) => {
        const claim = caches.persistentVolumeClaims.get(key.namespace, name);
        return claim ? [[name, claim] as const] : [];
      }),
    ),
    clusterDomain,
    profile: profileOf(key.namespace),
  };
}
