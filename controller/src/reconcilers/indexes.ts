/**
 * Cache indexes the reconcilers look things up by, and the indexer functions that fill them.
 * Keys are namespaced (`<namespace>/<value>`) so one informer can serve every namespace.
 */
import { Labels, controllerOf, type ObjectMeta, type Stored } from '@sandbank/api';

type StoredObject = Readonly<Stored<{ readonly metadata: ObjectMeta }>>;

export const Index = {
  /** Objects by the UID of their controller owner (pool members, sandbox pods, claim sandboxes). */
  controllerUid: 'controller-uid',
  /** Pods by the `claim-uid` label: bound Pods. */
  claimUid: 'claim-uid',
  /** Pods by `<namespace>/<template-ref-hash>`: candidates of a template. */
  templateHash: 'template-hash',
  /** Pools and claims by `<namespace>/<template name>`. */
  templateName: 'template-name',
  /** Objects by UID (claims, for mapping a bound Pod back to its claim). */
  uid: 'uid',
} as const;

export const byControllerUid = (o: StoredObject): string[] => {
  const uid = controllerOf(o.metadata)?.uid;
  return uid ? [uid] : [];
};

export const byClaimUid = (o: StoredObject): string[] => {
  const uid = o.metadata.labels?.[Labels.claimUid];
  return uid ? [uid] : [];
};

export const byTemplateHash = (o: StoredObject): string[] => {
  const hash = o.metadata.labels?.[Labels.sandboxTemplateRefHash];
  return hash ? [`${o.metadata.namespace}/${hash}`] : [];
};

export const byTemplateName = (
  o: StoredObject & { readonly spec: { readonly sandboxTemplateRef: { readonly name: string } } },
): string[] => [`${o.metadata.namespace}/${o.spec.sandboxTemplateRef.name}`];

export const byUid = (o: StoredObject): string[] => [o.metadata.uid];
