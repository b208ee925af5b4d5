/**
 * Which namespaces each named token may reach (ROUTER_AUTH_TOKEN_SCOPES, or the file
 * ROUTER_AUTH_TOKEN_SCOPES_FILE): entries `<token name>=<namespace>[,<namespace>…]`, or
 * `<token name>=*` for every namespace the router serves, one per line or separated by `;`;
 * blank lines and `#` comments are skipped. For example:
 *
 *   team-a=team-a
 *   ci=team-a,team-b
 *   ops=*
 *
 * Every token needs an entry: a token without one would otherwise open every namespace, the
 * silent default this exists to remove, so the router refuses to start and names it. An entry
 * without a token, or a namespace the router does not watch (ROUTER_NAMESPACES), is a typo that
 * would leave a tenant locked out or another one unscoped, and is refused too.
 */
import { z } from 'zod';
import { ALL_NAMESPACES, namespaceScope } from './scope.js';
import type { NamespaceScope } from './scope.js';
import { TOKEN_NAME_RE } from './token.js';
import type { TokenGrant } from './token.js';

/** A namespace name (an RFC 1123 label, as Kubernetes requires), or `*`. */
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const Entry = z.object({
  name: z.string().regex(TOKEN_NAME_RE, "a token's name is a Secret key ([A-Za-z0-9._-], at most 253)"),
  namespaces: z
    .array(
      z
        .string()
        .refine(
          (ns) => ns === '*' || NAMESPACE_RE.test(ns),
          'not a namespace name (lowercase letters, digits and -, at most 63)',
        ),
    )
    .min(1, 'at least one namespace, or *')
    .refine((list) => list.length === 1 || !list.includes('*'), '* stands alone (it means every namespace)'),
});

/** A problem with the scope configuration; the message names the token and the field. */
export class TokenScopeError extends Error {
  override readonly name = 'TokenScopeError';
}

/** Token name → its namespaces, from the text of ROUTER_AUTH_TOKEN_SCOPES. */
export function parseTokenScopes(text: string): Map<string, NamespaceScope> {
  const scopes = new Map<string, NamespaceScope>();
  const entries = text
    .split(/[\n;]/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '');
  for (const [i, entry] of entries.entries()) {
    const eq = entry.indexOf('=');
    if (eq < 0) {
      throw new TokenScopeError(
        `entry ${i + 1} (${JSON.stringify(entry)}): expected <token name>=<namespaces>`,
      );
    }
    const name = entry.slice(0, eq).trim();
    const namespaces = entry
      .slice(eq + 1)
      .split(',')
      .map((ns) => ns.trim())
      .filter((ns) => ns !== '');
    const parsed = Entry.safeParse({ name, namespaces });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const [field, index] = issue?.path ?? [];
      const value = typeof index === 'number' ? `${JSON.stringify(namespaces[index])}: ` : '';
      throw new TokenScopeError(
        `${name === '' ? `entry ${i + 1}` : name}: ${String(field)}: ${value}${issue?.message ?? 'invalid'}`,
      );
    }
    if (scopes.has(name)) throw new TokenScopeError(`${name}: given twice`);
    const list = parsed.data.namespaces;
    scopes.set(name, list[0] === '*' ? ALL_NAMESPACES : namespaceScope(list));
  }
  return scopes;
}

/**
 * Each token with its scope. `watched`: ROUTER_NAMESPACES (empty: all), which a scope may not
 * exceed. Throws TokenScopeError naming every token without a scope, or the first other problem.
 */
export function grantTokens(
  tokens: Readonly<Record<string, string>>,
  scopes: ReadonlyMap<string, NamespaceScope>,
  watched: readonly string[],
): Record<string, TokenGrant> {
  const unscoped = Object.keys(tokens).filter((name) => !scopes.has(name));
  if (unscoped.length > 0) {
    throw new TokenScopeError(
      `${unscoped.join(', ')}: no namespaces given; add <name>=<namespace>[,<namespace>…] for each ` +
        '(or <name>=* for every namespace the router serves)',
    );
  }
  const grants: Record<string, TokenGrant> = {};
  for (const [name, namespaces] of scopes) {
    const token = tokens[name];
    if (token === undefined) throw new TokenScopeError(`${name}: there is no token of that name`);
    if (namespaces.kind === 'some' && watched.length > 0) {
      const outside = [...namespaces.namespaces].find((ns) => !watched.includes(ns));
      if (outside !== undefined) {
        throw new TokenScopeError(
          `${name}: namespaces: ${outside} is not one the router serves (ROUTER_NAMESPACES=${watched.join(',')})`,
        );
      }
    }
    grants[name] = { token, namespaces };
  }
  return grants;
}
