/**
 * Why a call to a sandbox broke, when Kubernetes knows: a sandbox over its memory limit is killed
 * whole (under gVisor the host's OOM killer ends the Sentry, the agent with it: no exit status is
 * ever sent, docs/exit-metadata.md), and the caller sees only the agent's connection go. The
 * kubelet records it as the container's `OOMKilled` termination a few seconds later, in the Pod
 * the router already watches; a call that broke that way is answered `sandbox_oom_killed`.
 */
import { RouterError } from '../errors.js';
import type { Endpoint, SandboxLookup } from '../resolve/index.js';

/**
 * How long a call whose agent connection broke waits for the Pod to record an OOM kill. The
 * kubelet reported one 2-5 s after the kill on the local cluster (gVisor lab notes); a break for
 * another reason (the agent crashed, the network) reaches its caller up to this much later; one
 * whose Pod is being deleted or is gone, at once.
 */
export const OOM_REPORT_WAIT_MS = 6_000;

/**
 * `error` as the caller should see it: `sandbox_oom_killed` when it is the agent's connection
 * lost (upstream_unavailable) and the Pod of `endpoint` records an OOM kill later than the one
 * it recorded when it was resolved; `error` otherwise (and at once when `signal` aborts).
 */
export async function explainBrokenCall(
  lookup: SandboxLookup,
  endpoint: Endpoint,
  error: RouterError,
  signal: AbortSignal,
): Promise<RouterError> {
  if (error.code !== 'upstream_unavailable') return error;
  const pod = { namespace: endpoint.namespace, name: endpoint.podName, uid: endpoint.podUid };
  const killed = await lookup.oomKilledAfter(pod, endpoint.lastOomKillMs, OOM_REPORT_WAIT_MS, signal);
  if (!killed) return error;
  return new RouterError(
    'sandbox_oom_killed',
    `sandbox ${endpoint.namespace}/${endpoint.sandbox} was killed for going over its memory limit ` +
      `(its Pod ${endpoint.podName} reports OOMKilled); the call ended with it`,
    { cause: error },
  );
}
