/**
 * Identity of an object as the API server stores it. The server sets `name` (or generates it),
 * `uid` and `resourceVersion` on every object it returns, and `namespace` on every object of a
 * namespaced kind. An object without them was not read from the server (a fixture, a body about
 * to be written), so it must not reach what needs the identity — owner references, delete
 * preconditions, cache keys — where a missing field would silently become ''.
 */
import { z } from 'zod';
import type { ObjectMeta } from './meta.js';

/** What every stored object's metadata carries, whatever its scope. */
export interface StoredIdentity {
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string;
}

/** The identity of an object of a namespaced kind. */
export interface NamespacedIdentity extends StoredIdentity {
  readonly namespace: string;
}

/**
 * `T` as read from the API server: its metadata's identity fields are present and non-empty.
 * `Namespaced` is false for cluster-scoped kinds (no namespace), `boolean` when not known.
 */
export type Stored<T extends { readonly metadata: ObjectMeta }, Namespaced extends boolean = true> = T & {
  readonly metadata: T['metadata'] & (Namespaced extends true ? NamespacedIdentity : StoredIdentity);
};

const required = z.string().min(1);
const IdentitySchema = z.looseObject({ name: required, uid: required, resourceVersion: required });
const NamespacedIdentitySchema = IdentitySchema.extend({ namespace: required });

/** What keeps `metadata` from being a stored object's: issues with paths below it. */
function identityIssues(metadata: ObjectMeta, namespaced: boolean): readonly z.core.$ZodIssue[] {
  const result = (namespaced ? NamespacedIdentitySchema : IdentitySchema).safeParse(metadata);
  return result.success ? [] : result.error.issues;
}

/** True when `obj` carries the identity of a stored object of its scope. */
export function isStored<T extends { readonly metadata: ObjectMeta }, N extends boolean>(
  obj: T,
  namespaced: N,
): obj is Stored<T, N> {
  return identityIssues(obj.metadata, namespaced).length === 0;
}

/**
 * `schema` for objects read from the API server: what it accepts, and only with the identity of
 * a stored object of that scope (a missing `uid`, `resourceVersion`, `name` or — namespaced —
 * `namespace` is an issue at `metadata.<field>`).
 */
export function storedSchema<T extends { readonly metadata: ObjectMeta }, N extends boolean = true>(
  schema: z.ZodType<T>,
  namespaced: N,
): z.ZodType<Stored<T, N>> {
  return schema.transform((obj, ctx): Stored<T, N> => {
    if (isStored(obj, namespaced)) return obj;
    for (const issue of identityIssues(obj.metadata, namespaced)) {
      ctx.issues.push({
        code: 'custom',
        message: issue.message,
        path: ['metadata', ...issue.path],
        input: obj.metadata,
      });
    }
    return z.NEVER;
  });
}
