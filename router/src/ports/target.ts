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
export const PORT_ROUTE = /^\/v1\/namespaces\/([^/?#]+)\/sandboxclaims\/([^/?#]+)\/ports\/([^/?#]*)(.*)$/s;
/** `/v1/previews/{token}`, then the sandbox's path. */
export const PREVIEW_ROUTE = /^\/v1\/previews\/([^/?#]+)(.*)$/s;

export interface PortTarget extends SandboxRef {
  readonly port: number;
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
 * decoded and re-encoded), `/` when nothing does, with the query.
 */
export function upstreamPath(rest: string): string {
  if (rest === '' || rest.startsWith('?')) return `/${rest}`;
  return rest;
}

/** A port-route URL: the claim, the port and the sandbox's path; undefined when it is not one. */
export function portRouteTarget(
  url: string,
): { target: PortTarget; path: string; prefix: string } | undefined {
  const m = PORT_ROUTE.exec(url);
  if (!m) return undefined;
  const ref = v1TargetFromSegments(m[1] ?? '', m[2] ?? '');
  const port = parsePort(m[3] ?? '');
  const rest = m[4] ?? '';
  if (rest !== '' && !rest.startsWith('/') && !rest.startsWith('?')) return undefined;
  return {
    target: { ...ref, port },
    path: upstreamPath(rest),
    prefix: `/v1/namespaces/${ref.namespace}/sandboxclaims/${ref.name}/ports/${port}`,
  };
}

/** A preview-link URL: the token and the sandbox's path; undefined when it is not one. */
export function previewRouteTarget(url: string): { token: string; path: string; prefix: string } | undefined {
  const m = PREVIEW_ROUTE.exec(url);
  if (!m) return undefined;
  const token = m[1] ?? '';
  const rest = m[2] ?? '';
  if (rest !== '' && !rest.startsWith('/') && !rest.startsWith('?')) return undefined;
  return { token, path: upstreamPath(rest), prefix: `/v1/previews/${token}` };
}

/**
 * Throws unless `endpoint` is the sandbox of the claim the URL names (the port route addresses
 * claims: a Sandbox no claim of that name controls is not one), and `port` may be reached on it.
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
