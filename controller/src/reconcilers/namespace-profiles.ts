/**
 * The sandbox profile of each namespace, from the cluster's settings and the namespace's
 * relaxation labels (ProfileLabels), read through an informer on Namespaces (list and watch,
 * cluster-wide: Namespaces are cluster-scoped, so even a namespace-scoped install needs a
 * ClusterRole for this). When an admin changes those labels, the namespace's templates, pools,
 * Sandboxes and claims are reconciled again, so a relaxation (or its withdrawal) applies at once.
 */
import { z } from 'zod';
import { ObjectMeta, keyOf } from '@sandbank/api';
import { createInformer, NAMESPACES, type Informer, type KubeConfig } from '@sandbank/kube';
import type { Logger } from '../observability/logger.js';
import type { Controller } from '../runtime/controller.js';
import type { Caches, Source } from './deps.js';
import { SANDBOX_CONTROLLER } from './sandbox/index.js';
import { CLAIM_CONTROLLER } from './sandbox-claim/index.js';
import { TEMPLATE_CONTROLLER } from './sandbox-template/index.js';
import { POOL_CONTROLLER } from './sandbox-warm-pool/index.js';
import { stableJson } from './shared/pure-json.js';
import { sandboxProfile, type ProfileSettings, type SandboxProfile } from './shared/pure-profile.js';

const NamespaceObject = z.looseObject({ metadata: ObjectMeta });
type NamespaceObject = z.infer<typeof NamespaceObject>;

export interface NamespaceProfiles {
  /** Feeds `profileOf`; the manager starts it with the other informers. */
  readonly informer: Informer<NamespaceObject, false>;
  /** A namespace not (or no longer) in the cache gets the cluster's settings, nothing relaxed. */
  readonly profileOf: (namespace: string) => SandboxProfile;
  /** `handler` hears the name of each namespace whose profile changed. */
  onChange(handler: (namespace: string) => void): void;
}

export function createNamespaceProfiles(
  kubeConfig: KubeConfig,
  settings: ProfileSettings,
  log: Logger,
): NamespaceProfiles {
  const informer = createInformer<NamespaceObject, false>(kubeConfig, {
    type: NAMESPACES,
    schema: NamespaceObject,
    log: log.child({ informer: 'namespaces' }),
  });
  const profileOf = (namespace: string): SandboxProfile =>
    sandboxProfile(settings, informer.get('', namespace)?.metadata.labels);
  return {
    informer,
    profileOf,
    onChange(handler) {
      informer.onEvent((event) => {
        // An added namespace has no sandbox objects yet; those arrive through their own informers.
        if (event.type !== 'update') return;
        const before = sandboxProfile(settings, event.old.metadata.labels);
        const after = sandboxProfile(settings, event.obj.metadata.labels);
        if (stableJson(before) !== stableJson(after)) handler(event.obj.metadata.name);
      });
    },
  };
}

/** The kinds whose plans depend on the profile, and the controller that reconciles each. */
const PROFILE_DEPENDENTS: readonly (readonly [
  Source & ('templates' | 'pools' | 'sandboxes' | 'claims'),
  string,
])[] = [
  ['templates', TEMPLATE_CONTROLLER],
  ['pools', POOL_CONTROLLER],
  ['sandboxes', SANDBOX_CONTROLLER],
  ['claims', CLAIM_CONTROLLER],
];

/** On a profile change, queues every object of the namespace whose plan depends on it. */
export function requeueOnProfileChange(
  profiles: NamespaceProfiles,
  caches: Caches,
  controllers: readonly Controller[],
): void {
  const byName = new Map(controllers.map((c) => [c.name, c]));
  profiles.onChange((namespace) => {
    for (const [source, name] of PROFILE_DEPENDENTS) {
      const controller = byName.get(name);
      for (const obj of caches[source].list(namespace)) controller?.enqueue(keyOf(obj));
    }
  });
}
