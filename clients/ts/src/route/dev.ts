/**
 * Dev mode: the router behind Service `sandbox-router-svc`, in the claim's namespace when it has
 * one (upstream's rule), else in Sandbank's router namespace, reached through a port-forward this
 * client runs. Everything that can fail is checked before the claim is made: the Service, the
 * rights a port-forward needs (asked with SelfSubjectAccessReviews, as `kubectl auth can-i`), a
 * Ready router Pod; a refusal names the missing right and the ways out.
 */
import { PortForwardError } from '../client-errors.js';
import type { KubeApi } from '../kube/api.js';
import type { Cluster, ForwardTarget, ServiceLookup } from '../kube/cluster.js';
import { startPortForward, type LocalPortForward } from '../kube/port-forward.js';

export const ROUTER_SERVICE = 'sandbox-router-svc';
export const ROUTER_SERVICE_PORT = 8080;
/** Where Sandbank installs its router (manifests/base). */
export const DEFAULT_ROUTER_NAMESPACE = 'sandbank-system';
/** The router's token Secret and key (manifests/base/router). */
export const ROUTER_TOKEN_SECRET = 'sandbox-router-auth';
export const ROUTER_TOKEN_KEY = 'token';
/** What a port-forward to a Service needs besides reading it: find its Pods, open the stream. */
export const PORT_FORWARD_RIGHTS = ['get pods', 'list pods', 'create pods/portforward'] as const;
export const DEV_MODE_RIGHTS = ['get services', ...PORT_FORWARD_RIGHTS] as const;

/** What a user refused by RBAC can do: get the rights, or not use a port-forward at all. */
export function withoutTheRights(namespaces: string): string {
  return (
    `ask for a RoleBinding that grants them in namespace ${namespaces} (docs/deploy/access.md), or connect ` +
    'without a port-forward: routerUrl (direct) or gatewayName (a Gateway), with a router token ' +
    '(token or $SANDBANK_ROUTER_TOKEN)'
  );
}

export interface DevRouter {
  readonly namespace: string;
  /** Opens the tunnel (the first connection goes to the Pod found while checking). */
  open(): Promise<LocalPortForward>;
}

/** Finds the router for dev mode and checks that these credentials may reach it. */
export async function findDevRouter(
  api: KubeApi,
  cluster: Cluster,
  claimNamespace: string,
  routerNamespace: string,
  signal?: AbortSignal,
): Promise<DevRouter> {
  const missing: string[] = [];
  const refused = new Map<string, string>();
  for (const namespace of new Set([claimNamespace, routerNamespace])) {
    const found: ServiceLookup = await cluster.findService(namespace, ROUTER_SERVICE, signal);
    if (found.state === 'missing') {
      missing.push(namespace);
      continue;
    }
    if (found.state === 'forbidden') {
      refused.set(namespace, found.message);
      continue;
    }
    const lacking = await cluster.missingRights(namespace, PORT_FORWARD_RIGHTS, signal);
    if (lacking && lacking.length > 0) {
      throw new PortForwardError(
        `dev mode cannot port-forward to Service ${ROUTER_SERVICE}: these Kubernetes credentials may not ` +
          `${lacking.join(', ')} in namespace ${namespace}: ${withoutTheRights(namespace)}`,
      );
    }
    const service = found.service;
    const findTarget = async (): Promise<ForwardTarget> => {
      const target = await cluster.forwardTarget(namespace, service, ROUTER_SERVICE_PORT, signal);
      if (!target) {
        throw new PortForwardError(
          `no Ready pod behind Service ${ROUTER_SERVICE} in namespace ${namespace} (port ${ROUTER_SERVICE_PORT}): ` +
            `check that the router runs: kubectl get pods -n ${namespace} -l app=sandbox-router`,
        );
      }
      return target;
    };
    let first: ForwardTarget | undefined = await findTarget();
    return {
      namespace,
      open: () =>
        startPortForward({
          api,
          namespace,
          target: async () => {
            const known = first;
            first = undefined;
            return known ?? (await findTarget());
          },
        }),
    };
  }
  if (refused.size > 0) {
    const where = [...refused.keys()].join(' nor ');
    const absent =
      missing.length > 0
        ? `; and there is no Service ${ROUTER_SERVICE} in namespace ${missing.join(' nor ')}`
        : '';
    throw new PortForwardError(
      `dev mode cannot use Service ${ROUTER_SERVICE}: these Kubernetes credentials may not get services in ` +
        `namespace ${where} (the API server said: ${[...refused.values()].join('; ')})${absent}. Dev mode ` +
        `port-forwards to the router and needs ${DEV_MODE_RIGHTS.join(', ')} in its namespace: ${withoutTheRights(where)}`,
    );
  }
  throw new PortForwardError(
    `Service ${ROUTER_SERVICE} not found in namespace ${missing.join(' nor ')}: install Sandbank ` +
      '(kubectl apply -k manifests/overlays/<yours>), or pass routerUrl or gatewayName',
  );
}
