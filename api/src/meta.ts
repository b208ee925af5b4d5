/**
 * Object metadata as Sandbank reads it from the API server, plus the small metadata shapes that
 * sit inside our specs (pod metadata, volume claim template metadata). Pure: no I/O.
 */
import { z } from 'zod';
import {
  Dns1123Subdomain,
  LABEL_VALUE_PATTERN,
  MAX_LABEL_LENGTH,
  MAX_QUALIFIED_NAME_LENGTH,
  QUALIFIED_NAME_PATTERN,
} from './names.js';

/**
 * Bounds on label/annotation maps inside our specs. The API server needs a bound to accept the
 * CEL rule that checks every key (its cost estimate grows with the map size); 64 entries is far
 * above what a pod template carries, and a Pod's own limits still apply on top.
 */
const MAX_METADATA_ENTRIES = 64;

/** Escapes a regular expression for a single-quoted CEL string literal. */
function celString(pattern: string): string {
  return `'${pattern.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const qualifiedNameKey = z
  .string()
  .max(MAX_QUALIFIED_NAME_LENGTH)
  .regex(
    new RegExp(QUALIFIED_NAME_PATTERN),
    'must be a qualified name ([prefix/]name, name of at most 63 characters)',
  );

const keysRule = (what: string) => ({
  rule: `self.all(k, size(k) <= ${MAX_QUALIFIED_NAME_LENGTH} && k.matches(${celString(QUALIFIED_NAME_PATTERN)}))`,
  message: `${what} keys must be qualified names ([prefix/]name, name of at most 63 characters)`,
});

/** Label map with the key and value syntax the API server enforces on Pods. */
export const LabelMap = z
  .record(
    qualifiedNameKey,
    z
      .string()
      .max(MAX_LABEL_LENGTH)
      .regex(
        new RegExp(LABEL_VALUE_PATTERN),
        'must be a label value (at most 63 characters, alphanumeric at both ends)',
      ),
  )
  .refine((m) => Object.keys(m).length <= MAX_METADATA_ENTRIES, `at most ${MAX_METADATA_ENTRIES} labels`)
  .meta({ maxProperties: MAX_METADATA_ENTRIES, 'x-kubernetes-validations': [keysRule('label')] });

/** Annotation map: keys are qualified names, values free text. */
export const AnnotationMap = z
  .record(qualifiedNameKey, z.string())
  .refine((m) => Object.keys(m).length <= MAX_METADATA_ENTRIES, `at most ${MAX_METADATA_ENTRIES} annotations`)
  .meta({ maxProperties: MAX_METADATA_ENTRIES, 'x-kubernetes-validations': [keysRule('annotation')] });

/** Labels and annotations to put on a Pod (the only metadata a pod template may set). */
export const PodMetadata = z.strictObject({
  labels: LabelMap.optional(),
  annotations: AnnotationMap.optional(),
});
export type PodMetadata = z.infer<typeof PodMetadata>;

/**
 * Metadata of an embedded object template (volume claim templates): a name, labels, annotations.
 * Keys are checked when the claim object itself is created; a CEL rule per template would push the
 * CRD past the API server's validation cost budget.
 */
export const EmbeddedObjectMetadata = z.strictObject({
  name: Dns1123Subdomain.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type EmbeddedObjectMetadata = z.infer<typeof EmbeddedObjectMetadata>;

export const OwnerReference = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  name: z.string(),
  uid: z.string(),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});
export type OwnerReference = z.infer<typeof OwnerReference>;

/**
 * ObjectMeta as the API server returns it. Loose: fields we do not model (managedFields, …) are
 * kept so that an object read, changed and written back loses nothing.
 */
export const ObjectMeta = z.looseObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  ownerReferences: z.array(OwnerReference).optional(),
  finalizers: z.array(z.string()).optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/** Namespace + name: the identity a reconciler works on. */
export interface ObjectKey {
  readonly namespace: string;
  readonly name: string;
}

/** `namespace/name`, the work-queue key format of client-go. */
export function keyOf(obj: {
  metadata?: { namespace?: string | undefined; name?: string | undefined };
}): string {
  const ns = obj.metadata?.namespace ?? '';
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

/** The inverse of `keyOf`. */
export function parseKey(key: string): ObjectKey {
  const slash = key.indexOf('/');
  return slash < 0
    ? { namespace: '', name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * The ownerReference that marks `owner` as the controller of another object. Only a stored owner
 * (see `Stored`) has the UID it names, which only the API server assigns. The server refuses a
 * child whose reference lacks it, far from the code that built it: an empty name or UID throws
 * here instead.
 */
export function controllerRef(owner: {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly uid: string };
}): OwnerReference {
  const { name, uid } = owner.metadata;
  if (!name || !uid) throw new TypeError(`controllerRef: the ${owner.kind} owner has no stored name and uid`);
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The controller owner reference of an object, if any. */
export function controllerOf(meta: ObjectMeta | undefined): OwnerReference | undefined {
  return meta?.ownerReferences?.find((ref) => ref.controller === true);
}
