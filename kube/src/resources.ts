/**
 * Where each kind Sandbank touches lives in the API, and the URL paths built from that.
 * Events use `events.k8s.io/v1`: it carries the reporting controller and instance, has series
 * for repeats, and `kubectl describe` shows it like core events (same storage).
 */
import {
  EXTENSIONS_GROUP,
  EXTENSIONS_VERSION,
  SANDBOX_CLAIM_KIND,
  SANDBOX_CLAIM_PLURAL,
  SANDBOX_GROUP,
  SANDBOX_KIND,
  SANDBOX_PLURAL,
  SANDBOX_TEMPLATE_KIND,
  SANDBOX_TEMPLATE_PLURAL,
  SANDBOX_VERSION,
  SANDBOX_WARM_POOL_KIND,
  SANDBOX_WARM_POOL_PLURAL,
  v1alpha1,
} from '@sandbank/api';
import type { ApiCollection, ResourceType } from './types.js';

const namespaced = (group: string, version: string, plural: string, kind: string): ResourceType<true> =>
  Object.freeze({ group, version, plural, kind, namespaced: true });

export const NAMESPACES: ResourceType<false> = Object.freeze({
  group: '',
  version: 'v1',
  plural: 'namespaces',
  kind: 'Namespace',
  namespaced: false,
});

export const PODS = namespaced('', 'v1', 'pods', 'Pod');
export const SERVICES = namespaced('', 'v1', 'services', 'Service');
export const CONFIG_MAPS = namespaced('', 'v1', 'configmaps', 'ConfigMap');
/** Only the controller's agent key (see controller/src/agent-credentials.ts); nothing else reads Secrets. */
export const SECRETS = namespaced('', 'v1', 'secrets', 'Secret');
export const PERSISTENT_VOLUME_CLAIMS = namespaced(
  '',
  'v1',
  'persistentvolumeclaims',
  'PersistentVolumeClaim',
);
export const EVENTS = namespaced('events.k8s.io', 'v1', 'events', 'Event');
export const NETWORK_POLICIES = namespaced('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy');
export const LEASES = namespaced('coordination.k8s.io', 'v1', 'leases', 'Lease');
/**
 * Only Sandbank's own CRDs, by name: the controller points their conversion webhook at itself
 * and migrates their storedVersions (controller/src/webhook, controller/src/storage-migration.ts).
 */
export const CUSTOM_RESOURCE_DEFINITIONS: ResourceType<false> = Object.freeze({
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
});
export const SANDBOXES = namespaced(SANDBOX_GROUP, SANDBOX_VERSION, SANDBOX_PLURAL, SANDBOX_KIND);
export const SANDBOX_TEMPLATES = namespaced(
  EXTENSIONS_GROUP,
  EXTENSIONS_VERSION,
  SANDBOX_TEMPLATE_PLURAL,
  SANDBOX_TEMPLATE_KIND,
);
export const SANDBOX_WARM_POOLS = namespaced(
  EXTENSIONS_GROUP,
  EXTENSIONS_VERSION,
  SANDBOX_WARM_POOL_PLURAL,
  SANDBOX_WARM_POOL_KIND,
);
export const SANDBOX_CLAIMS = namespaced(
  EXTENSIONS_GROUP,
  EXTENSIONS_VERSION,
  SANDBOX_CLAIM_PLURAL,
  SANDBOX_CLAIM_KIND,
);

/**
 * The same collections in v1alpha1, served through the conversion webhook. Sandbank's own
 * components read and write only the storage version above; these are for tests and tools that
 * act as v1alpha1 clients.
 */
export const SANDBOXES_V1ALPHA1 = namespaced(
  SANDBOX_GROUP,
  v1alpha1.SANDBOX_VERSION,
  SANDBOX_PLURAL,
  SANDBOX_KIND,
);
export const SANDBOX_TEMPLATES_V1ALPHA1 = namespaced(
  EXTENSIONS_GROUP,
  v1alpha1.EXTENSIONS_VERSION,
  SANDBOX_TEMPLATE_PLURAL,
  SANDBOX_TEMPLATE_KIND,
);
export const SANDBOX_WARM_POOLS_V1ALPHA1 = namespaced(
  EXTENSIONS_GROUP,
  v1alpha1.EXTENSIONS_VERSION,
  SANDBOX_WARM_POOL_PLURAL,
  SANDBOX_WARM_POOL_KIND,
);
export const SANDBOX_CLAIMS_V1ALPHA1 = namespaced(
  EXTENSIONS_GROUP,
  v1alpha1.EXTENSIONS_VERSION,
  SANDBOX_CLAIM_PLURAL,
  SANDBOX_CLAIM_KIND,
);

/** `v1` for the core group, `group/version` otherwise. */
export function apiVersionOf(type: ApiCollection): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/**
 * The URL path of a collection (no `name`) or an object, optionally a subresource. An empty or
 * absent namespace on a namespaced type means all namespaces (list and watch only).
 */
export function resourcePath(
  type: ApiCollection,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  let path = type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  if (type.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${type.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) path += `/${subresource}`;
  return path;
}
