/**
 * Which namespaces a caller may reach: part of every Principal, and checked in one place,
 * `refuseOutOfScope`, which the admission (admission/admission.ts) runs for every surface before
 * the sandbox is looked up.
 *
 * Out of scope is `permission_denied` (403, gRPC PERMISSION_DENIED), the answer `kubernetes`
 * mode gives when its SubjectAccessReview says no. In both modes the decision is made before the
 * claim is resolved, from the credential and the namespace alone, so the answer is the same
 * whether a claim of that name exists or not: a refused caller learns nothing about another
 * namespace's claims, only that its credential does not cover that namespace, which it can read
 * from its own configuration anyway. A 404 would hide that too, but `kubernetes` mode cannot give
 * it honestly (RBAC answers for a name whether or not it exists), and one answer across modes lets
 * clients treat "not yours" one way.
 */
import { RouterError } from '../errors.js';

export type NamespaceScope =
  { readonly kind: 'all' } | { readonly kind: 'some'; readonly namespaces: ReadonlySet<string> };

/** Every namespace the router serves (what `*` configures). */
export const ALL_NAMESPACES: NamespaceScope = Object.freeze({ kind: 'all' });

export function namespaceScope(namespaces: Iterable<string>): NamespaceScope {
  const set = new Set(namespaces);
  // An empty scope would be a credential that opens nothing: a configuration mistake, refused early.
  if (set.size === 0) throw new Error('a namespace scope needs at least one namespace');
  return { kind: 'some', namespaces: set };
}

export function covers(scope: NamespaceScope, namespace: string): boolean {
  return scope.kind === 'all' || scope.namespaces.has(namespace);
}

/** `*`, or the namespaces comma-separated in order: for logs and messages. */
export function describeScope(scope: NamespaceScope): string {
  return scope.kind === 'all' ? '*' : [...scope.namespaces].sort().join(',');
}

/**
 * Throws `permission_denied` unless `principal` (a Principal; principal.ts imports this module)
 * may reach `target`'s namespace.
 */
export function refuseOutOfScope(
  principal: { readonly name: string; readonly namespaces: NamespaceScope },
  target: { readonly namespace: string },
): void {
  if (covers(principal.namespaces, target.namespace)) return;
  throw new RouterError(
    'permission_denied',
    `${principal.name} may not use sandboxes in namespace ${target.namespace}`,
  );
}
