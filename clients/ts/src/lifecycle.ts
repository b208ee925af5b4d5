/**
 * A sandbox's life as the handle sees it: claim → wait for Ready (a watch) → open the route; and
 * on the way out, close the route and delete the claim. Whatever interrupts it (an abort, an
 * error), a claim created here is deleted, and the way out is bounded: see `deleteBounded`.
 */
import { randomBytes } from 'node:crypto';
import { KubernetesError } from './client-errors.js';
import {
  API_TIMEOUT_MS,
  Claims,
  Cluster,
  KubeApi,
  loadKubeConfig,
  type ClaimObject,
  type KubeOptions,
} from './kube/index.js';
import { prepareRoute, type Route, type RouteOptions } from './route/index.js';

/**
 * Once the caller aborted, how long deleting the claim may still take: the delete is not dropped
 * (the claim would be left running), but a slow API server cannot hold the caller either.
 */
export const ABORT_GRACE_MS = 3_000;
/** Pause between attempts at a delete the API server did not answer or answered 429/5xx. */
const DELETE_RETRY_MS = 200;

/** Kubernetes access for one handle. */
export interface Kube {
  readonly api: KubeApi;
  readonly claims: Claims;
  readonly cluster: Cluster;
}

export function connectKube(options: KubeOptions): Kube {
  const api = new KubeApi(loadKubeConfig(options));
  return { api, claims: new Claims(api), cluster: new Cluster(api) };
}

/** `sandbox-claim-<8 hex>`, as upstream's clients name their claims. */
export function newClaimName(): string {
  return `sandbox-claim-${randomBytes(4).toString('hex')}`;
}

/**
 * Deletes a claim, retrying what may pass (no answer, 429, 5xx) within the time allowed:
 * `ABORT_GRACE_MS` when leaving because of an abort (`urgent`), else an ordinary call's bound.
 * True if the claim existed; throws KubernetesError if it could not be deleted in time.
 */
export async function deleteBounded(
  claims: Claims,
  namespace: string,
  name: string,
  urgent: boolean,
): Promise<boolean> {
  const grace = urgent ? ABORT_GRACE_MS : API_TIMEOUT_MS;
  const giveUp = Date.now() + grace;
  for (;;) {
    try {
      return await claims.delete(namespace, name, Math.max(1, giveUp - Date.now()));
    } catch (error) {
      const transient = error instanceof KubernetesError && error.retryable;
      if (!transient || Date.now() + DELETE_RETRY_MS >= giveUp) {
        // The error names the call (`deleting SandboxClaim …`); this adds the way to finish it by hand.
        throw new KubernetesError(
          `${error instanceof Error ? error.message : String(error)}; ` +
            `it may be left: kubectl delete sandboxclaim ${name} -n ${namespace}`,
          error instanceof KubernetesError ? error.status : undefined,
          { cause: error },
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, DELETE_RETRY_MS));
  }
}

/** On a failure path: deletes, and reports a failed delete as a process warning (the original error wins). */
export async function deleteQuietly(
  claims: Claims,
  namespace: string,
  name: string,
  urgent: boolean,
): Promise<void> {
  try {
    await deleteBounded(claims, namespace, name, urgent);
  } catch (error) {
    process.emitWarning(error instanceof Error ? error.message : String(error), 'SandbankWarning');
  }
}

export interface Provisioned {
  readonly kube: Kube;
  readonly namespace: string;
  readonly claimName: string;
  readonly sandboxName: string;
  readonly route: Route;
  readonly owned: boolean;
}

export interface ProvisionStep {
  readonly kube: Kube;
  readonly namespace: string;
  readonly route: RouteOptions;
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number;
  /** Creates the claim (name chosen by the caller) or undefined to attach to `claimName`. */
  readonly create: ((signal: AbortSignal | undefined) => Promise<ClaimObject>) | undefined;
  readonly claimName: string;
}

/**
 * Creates the claim (or attaches), waits until it is Ready, and opens the route, which was
 * checked before anything was created. A claim this call created is deleted again if anything
 * fails or the signal aborts, also while the create call is under way (the name is chosen here).
 */
export async function provision(step: ProvisionStep): Promise<Provisioned> {
  const { kube, namespace, claimName, signal } = step;
  const openRoute = await prepareRoute(step.route, {
    kube,
    claimNamespace: namespace,
    env: process.env,
    signal,
  });
  let maybeCreated = false;
  let route: Route | undefined;
  try {
    let created: ClaimObject | undefined;
    if (step.create) {
      signal?.throwIfAborted();
      maybeCreated = true;
      try {
        created = await step.create(signal);
      } catch (error) {
        // The API server answered with a refusal (a 409 may even be someone else's claim): nothing
        // of ours to delete. No answer, or an abort while waiting for one: it may exist.
        if (error instanceof KubernetesError && error.status !== undefined) maybeCreated = false;
        throw error;
      }
    }
    const ready = await kube.claims.waitReady(namespace, claimName, step.timeoutMs, created, signal);
    route = await openRoute();
    signal?.throwIfAborted();
    return {
      kube,
      namespace,
      claimName,
      sandboxName: ready.status?.sandbox?.name ?? claimName,
      route,
      owned: step.create !== undefined,
    };
  } catch (error) {
    await route?.close();
    if (maybeCreated) await deleteQuietly(kube.claims, namespace, claimName, signal?.aborted === true);
    throw error;
  }
}
