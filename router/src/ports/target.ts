/**
 * What the port route reaches, and what it may: the URL's claim and port, the path the sandbox
 * sees, and the port policy (declared container ports, or any port when the template allows it;
 * never the agent's).
 */
import { z } from 'zod';
import type { AgentPorts } from '../config.js';
import { RouterError } from '../errors.js';
import { v1TargetFromSegments } from '../http/validate.js';
import type { Endpoint, SandboxRef } from '../resolve/index.js';

/** `/v1/namespaces/{ns}/sandboxclaims/{name}/ports/{port}`, then the sandbox's path. */
const PORT_ROUTE = /^\/v1\/namespaces\/([^/?#]+)\/sandboxclaims\/([^/?#]+)\/ports\/([^/?#]*)(.*)$/s;
/** `/v1/previews/{token}`, then the sandbox's path. */
const PREVIEW_ROUTE = /^\/v1\/previews\/([^/?#]+)(.*)$/s;

export interface PortTarget extends SandboxRef {
  readonly port: number;
  /** A preview link's: the UID of the claim it was made for (one deleted and made again is not it). */
  readonly claimUid?: string;
}

/** A port-route or preview-link request's target: the claim and port, and the path on the pod. */
export interface RoutedPort extends PortTarget {
  /** The request target the sandbox gets (see `upstreamPath`). */
  readonly path: string;
  /** The router's path the sandbox is served under (a link's holds its token). */
  readonly prefix: string;
}

/** A request URL on the port route or a preview link, split by the route's pattern, not yet checked. */
export type PortRouteMatch =
  | {
      readonly kind: 'port';
      readonly namespace: string;
      readonly name: string;
      readonly port: string;
      readonly rest: string;
    }
  | { readonly kind: 'link'; readonly token: string; readonly rest: string };

/** Which of the two routes `url` is on (matched once per request), or undefined for neither. */
export function matchPortRoute(url: string): PortRouteMatch | undefined {
  const port = PORT_ROUTE.exec(url);
  if (port) {
    return {
      kind: 'port',
      namespace: port[1] ?? '',
      name: port[2] ?? '',
      port: port[3] ?? '',
      rest: port[4] ?? '',
    };
  }
  const link = PREVIEW_ROUTE.exec(url);
  return link ? { kind: 'link', token: link[1] ?? '', rest: link[2] ?? '' } : undefined;
}

const Port = z
  .string()
  .regex(/^[1-9][0-9]{0,4}$/, 'must be a port number 1-65535')
  .transform(Number)
  .pipe(z.number().int().max(65535, 'must be a port number 1-65535'));

export function parsePort(raw: string): number {
  const parsed = Port.safeParse(raw);
  if (!parsed.success)
    throw new RouterError(
      'invalid_argument',
      `port: ${parsed.error.issues[0]?.message ?? 'must be a port number 1-65535'}`,
    );
  return parsed.data;
}

/**
 * The request target's path as the sandbox gets it: what follows the route's prefix, raw (never
 * decoded and re-encoded), `/` when nothing does, with the query; not_found when something other
 * than a path or a query follows it.
 */
export function upstreamPath(rest: string): string {
  if (rest === '' || rest.startsWith('?')) return `/${rest}`;
  if (!rest.startsWith('/')) throw new RouterError('not_found', 'no such port route');
  return rest;
}

/** A port-route URL's claim, port and path on the sandbox (invalid_argument, not_found). */
export function portRouteTarget(match: PortRouteMatch & { kind: 'port' }): RoutedPort {
  const ref = v1TargetFromSegments(match.namespace, match.name);
  const port = parsePort(match.port);
  return {
    ...ref,
    port,
    path: upstreamPath(match.rest),
    prefix: `/v1/namespaces/${ref.namespace}/sandboxclaims/${ref.name}/ports/${port}`,
  };
}

/**
 * Throws unless `endpoint` is the sandbox of the claim the URL names (the port route addresses
 * claims: a Sandbox no claim of that name controls is not one), by the UID a link names, and
 * `port` may be reached on it.
 */
export function checkPortAccess(
  endpoint: Endpoint,
  target: PortTarget,
  agentPorts: AgentPorts,
): asserts endpoint is Endpoint & { claimUid: string } {
  if (endpoint.claim !== target.name || endpoint.claimUid === undefined) {
    throw new RouterError(
      'not_found',
      `no sandbox claim ${target.name} in namespace ${target.namespace} (a Sandbox of that name that no claim of that name controls is not routed here)`,
    );
  }
  if (target.claimUid !== undefined && endpoint.claimUid !== target.claimUid) {
    throw new RouterError(
      'not_found',
      `preview link: claim ${target.namespace}/${target.name} is not the one the link was made for (deleted and made again?)`,
    );
  }
  const { port } = target;
  // The agent's ports run commands with the pod's own credential: only /exec, /files and gRPC,
  // which present that credential themselves after checking the caller, may reach them.
  if (port === agentPorts.grpcPort || port === agentPorts.legacyPort) {
    throw new RouterError(
      'permission_denied',
      `port ${port} is the sandbox agent's; use the exec, files or gRPC routes to reach the agent`,
    );
  }
  if (!endpoint.anyPort && !endpoint.declaredPorts.includes(port)) {
    throw new RouterError(
      'permission_denied',
      `port ${port} is not declared by sandbox ${target.namespace}/${target.name} (declared: ${
        endpoint.declaredPorts
          .filter((p) => p !== agentPorts.grpcPort && p !== agentPorts.legacyPort)
          .join(', ') || 'none'
      }); declare it as a containerPort in the template, or annotate the template's pod with sandbank.dev/expose-any-port: "true"`,
    );
  }
}
