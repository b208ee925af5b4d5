/**
 * SandboxClaims: create (in the API version the server serves for what is asked), wait until
 * Ready with a watch (list once, then watch from its resourceVersion, listing again after
 * `410 Gone`), delete, list. Only the fields the client reads are parsed (zod); the rest of the
 * object is the server's business.
 */
import { z } from 'zod';
import {
  ClaimFailed,
  ConfigurationError,
  KubernetesError,
  SandboxTimeout,
  TemplateNotFound,
  WarmPoolNotFound,
} from '../client-errors.js';
import { abortReason } from '../abort.js';
import { beforeRewatch, refusal, type KubeApi } from './api.js';

export const CLAIM_GROUP = 'extensions.agents.x-k8s.io';
export type ClaimVersion = 'v1beta1' | 'v1alpha1';
/** A v1alpha1 `warmpool` value that asks for a cold start (v1beta1 says it with a pool of 0 replicas). */
export const COLD_START = 'none';

/**
 * Ready reasons a claim does not leave by itself: v1alpha1's, the Sandbox's own final reasons
 * (forwarded verbatim in v1beta1), the claim's configuration errors, and a bound claim whose
 * Sandbox was deleted. Any other reason is a step on the way.
 */
export const TERMINAL_CLAIM_REASONS: ReadonlySet<string> = new Set([
  'TemplateNotFound',
  'WarmPoolNotFound',
  'InvalidMetadata',
  'EnvVarsInjectionRejected',
  'ClaimExpired',
  'SandboxFailed',
  'PodFailed',
  'PodSucceeded',
  'SandboxExpired',
  'VolumeClaimTemplatesError',
  'InvalidConfiguration',
  'SandboxMissing',
]);

const Condition = z.object({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
});

/** The fields of a SandboxClaim (either version) the client reads. */
export const ClaimObject = z.object({
  metadata: z.object({
    name: z.string(),
    resourceVersion: z.string().optional(),
    creationTimestamp: z.string().optional(),
    deletionTimestamp: z.string().optional(),
  }),
  spec: z
    .object({
      warmPoolRef: z.object({ name: z.string() }).optional(),
      sandboxTemplateRef: z.object({ name: z.string() }).optional(),
      warmpool: z.string().optional(),
    })
    .optional(),
  status: z
    .object({
      conditions: z.array(Condition).optional(),
      sandbox: z.object({ name: z.string().optional() }).optional(),
    })
    .optional(),
});
export type ClaimObject = z.infer<typeof ClaimObject>;

const ClaimList = z.object({
  metadata: z.object({ resourceVersion: z.string().optional() }).optional(),
  items: z.array(ClaimObject),
});

const Bookmark = z.object({ metadata: z.object({ resourceVersion: z.string() }) });
const ApiGroup = z.object({ versions: z.array(z.object({ version: z.string() })) });
const WarmPool = z.object({ spec: z.object({ sandboxTemplateRef: z.object({ name: z.string() }) }) });

export interface ClaimRequest {
  /** A SandboxTemplate (v1alpha1 `sandboxTemplateRef`). */
  readonly template?: string | undefined;
  /** A SandboxWarmPool (v1beta1 `warmPoolRef`, v1alpha1 `warmpool`), or `none` for a cold start. */
  readonly pool?: string | undefined;
  readonly env?: Readonly<Record<string, string>> | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  /** The claim deletes itself this long after it was created (`lifecycle`, policy Delete). */
  readonly shutdownAfterSeconds?: number | undefined;
}

export interface ServedVersions {
  readonly v1beta1: boolean;
  readonly v1alpha1: boolean;
}

export function requireTemplateOrPool(request: ClaimRequest): void {
  if (!request.template && !request.pool) {
    throw new ConfigurationError('template: name a SandboxTemplate, or a pool (its template is used)');
  }
}

/**
 * Which version a claim is written in. v1beta1 (what upstream's SDK 1.0.8 writes) names only a
 * pool; a claim that names a template without a pool, or asks for a cold start (`none`), needs
 * v1alpha1, which a server without it (upstream v1.0) cannot take.
 */
export function claimVersion(served: ServedVersions, request: ClaimRequest): ClaimVersion {
  requireTemplateOrPool(request);
  const namesPool = request.pool !== undefined && request.pool !== COLD_START;
  if (namesPool && served.v1beta1) return 'v1beta1';
  if (served.v1alpha1) return 'v1alpha1';
  if (!served.v1beta1) {
    throw new KubernetesError(
      `the API server serves no SandboxClaim version this client speaks (${CLAIM_GROUP} v1beta1 or v1alpha1): are the CRDs installed?`,
      404,
    );
  }
  throw new ConfigurationError(
    `pool: this API server serves SandboxClaims only in v1beta1, where a claim names a warm pool (a cold start is a pool of 0 replicas); pass pool`,
  );
}

/** The claim object to create. `template` for v1alpha1 is the request's, or the named pool's. */
export function claimBody(
  version: ClaimVersion,
  name: string,
  request: ClaimRequest,
  template: string | undefined,
  now: Date = new Date(),
): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  if (version === 'v1beta1') {
    spec['warmPoolRef'] = { name: request.pool };
  } else {
    spec['sandboxTemplateRef'] = { name: template ?? request.template };
    if (request.pool !== undefined) spec['warmpool'] = request.pool;
  }
  if (request.shutdownAfterSeconds !== undefined) {
    const at = new Date(now.getTime() + request.shutdownAfterSeconds * 1000);
    spec['lifecycle'] = {
      shutdownTime: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      shutdownPolicy: 'Delete',
    };
  }
  const env = Object.entries(request.env ?? {});
  if (env.length > 0) spec['env'] = env.map(([envName, value]) => ({ name: envName, value }));
  const labels =
    request.labels && Object.keys(request.labels).length > 0 ? { labels: { ...request.labels } } : {};
  return {
    apiVersion: `${CLAIM_GROUP}/${version}`,
    kind: 'SandboxClaim',
    metadata: { name, ...labels },
    spec,
  };
}

export function readyCondition(claim: ClaimObject): z.infer<typeof Condition> | undefined {
  return claim.status?.conditions?.find((c) => c.type === 'Ready');
}

/**
 * True when the claim is Ready and names its Sandbox; throws the typed ClaimFailed when its
 * reason is terminal; false while it is on its way.
 */
export function claimOutcome(claim: ClaimObject): boolean {
  const ready = readyCondition(claim);
  if (!ready) return false;
  if (ready.status === 'True') return Boolean(claim.status?.sandbox?.name);
  const reason = ready.reason ?? '';
  if (!TERMINAL_CLAIM_REASONS.has(reason)) return false;
  const name = claim.metadata.name;
  const detail = ready.message ?? '';
  if (reason === 'TemplateNotFound') throw new TemplateNotFound(name, detail);
  if (reason === 'WarmPoolNotFound') throw new WarmPoolNotFound(name, detail);
  throw new ClaimFailed(name, reason, detail);
}

/** A claim as `Sandbox.list` reports it. */
export interface ClaimState {
  readonly name: string;
  readonly namespace: string;
  /** `Ready`, `Failed` (a terminal reason), `Pending`, or `Deleting`. */
  readonly state: 'Ready' | 'Failed' | 'Pending' | 'Deleting';
  /** The Ready condition's reason, if any. */
  readonly reason: string | undefined;
  readonly sandboxName: string | undefined;
  readonly template: string | undefined;
  readonly pool: string | undefined;
  readonly createdAt: string | undefined;
}

export function claimState(namespace: string, claim: ClaimObject): ClaimState {
  const ready = readyCondition(claim);
  const state = claim.metadata.deletionTimestamp
    ? 'Deleting'
    : ready?.status === 'True'
      ? 'Ready'
      : TERMINAL_CLAIM_REASONS.has(ready?.reason ?? '')
        ? 'Failed'
        : 'Pending';
  const pool = claim.spec?.warmPoolRef?.name ?? claim.spec?.warmpool;
  return {
    name: claim.metadata.name,
    namespace,
    state,
    reason: ready?.reason,
    sandboxName: claim.status?.sandbox?.name,
    template: claim.spec?.sandboxTemplateRef?.name,
    pool,
    createdAt: claim.metadata.creationTimestamp,
  };
}

function parsed<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.join('.') ?? '';
    throw new KubernetesError(
      `${what}: unexpected answer at ${field || '(root)'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return result.data;
}

/** `promise`, or the signal's reason as soon as it aborts (the promise runs on for others). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Served versions per API server, asked once per process (the answer changes only with an install). */
const served = new Map<string, Promise<ServedVersions>>();

export class Claims {
  constructor(private readonly api: KubeApi) {}

  private path(version: ClaimVersion, namespace: string, name?: string): string {
    const base = `/apis/${CLAIM_GROUP}/${version}/namespaces/${encodeURIComponent(namespace)}/sandboxclaims`;
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  /** Which SandboxClaim versions the server serves (group discovery, once per server). */
  served(signal?: AbortSignal): Promise<ServedVersions> {
    const key = this.api.server.href;
    let answer = served.get(key);
    if (!answer) {
      // Shared by every caller, so no one caller's signal stops it (its own timeout bounds it).
      answer = this.discover();
      served.set(key, answer);
      // A failed discovery is asked again next time.
      answer.catch(() => served.delete(key));
    }
    return signal ? untilAborted(answer, signal) : answer;
  }

  private async discover(): Promise<ServedVersions> {
    const what = `discovering API group ${CLAIM_GROUP}`;
    const answer = await this.api.call(what, 'GET', `/apis/${CLAIM_GROUP}`);
    if (answer.status === 404) return { v1beta1: false, v1alpha1: false };
    if (answer.status !== 200) throw refusal(what, answer);
    const versions = new Set(parsed(ApiGroup, answer.body, what).versions.map((v) => v.version));
    return { v1beta1: versions.has('v1beta1'), v1alpha1: versions.has('v1alpha1') };
  }

  /** The version reads use: v1beta1 when served (the stored version), else v1alpha1. */
  async readVersion(signal?: AbortSignal): Promise<ClaimVersion> {
    const versions = await this.served(signal);
    if (versions.v1beta1) return 'v1beta1';
    if (versions.v1alpha1) return 'v1alpha1';
    throw new KubernetesError(
      `the API server serves no ${CLAIM_GROUP} SandboxClaims: are the CRDs installed?`,
      404,
    );
  }

  /** The SandboxTemplate a SandboxWarmPool serves; WarmPoolNotFound when there is no such pool. */
  async poolTemplate(namespace: string, pool: string, signal?: AbortSignal): Promise<string> {
    const version = await this.readVersion(signal);
    const what = `reading SandboxWarmPool ${namespace}/${pool}`;
    const path = `/apis/${CLAIM_GROUP}/${version}/namespaces/${encodeURIComponent(namespace)}/sandboxwarmpools/${encodeURIComponent(pool)}`;
    const answer = await this.api.call(what, 'GET', path, { signal });
    if (answer.status === 404)
      throw new WarmPoolNotFound(pool, `no SandboxWarmPool ${pool} in namespace ${namespace}`);
    if (answer.status !== 200) throw refusal(what, answer);
    return parsed(WarmPool, answer.body, what).spec.sandboxTemplateRef.name;
  }

  /** Creates the claim; a refusal is a KubernetesError with the status (no answer: no status). */
  async create(
    namespace: string,
    version: ClaimVersion,
    body: Record<string, unknown>,
    name: string,
    signal?: AbortSignal,
  ): Promise<ClaimObject> {
    const what = `creating SandboxClaim ${namespace}/${name}`;
    const answer = await this.api.call(what, 'POST', this.path(version, namespace), { body, signal });
    if (answer.status !== 201 && answer.status !== 200) throw refusal(what, answer);
    return parsed(ClaimObject, answer.body, what);
  }

  /**
   * Deletes the claim; its Sandbox and Pod follow by garbage collection (background propagation,
   * as the Python client: the caller does not wait for the Pod to go). False if it was gone.
   */
  async delete(namespace: string, name: string, timeoutMs: number): Promise<boolean> {
    const version = await this.readVersion();
    const what = `deleting SandboxClaim ${namespace}/${name}`;
    const answer = await this.api.call(what, 'DELETE', this.path(version, namespace, name), {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
      timeoutMs,
    });
    if (answer.status === 404) return false;
    if (answer.status !== 200 && answer.status !== 202) throw refusal(what, answer);
    return true;
  }

  async list(namespace: string, signal?: AbortSignal): Promise<ClaimState[]> {
    const version = await this.readVersion(signal);
    const what = `listing SandboxClaims in ${namespace}`;
    const answer = await this.api.call(what, 'GET', this.path(version, namespace), { signal });
    if (answer.status !== 200) throw refusal(what, answer);
    return parsed(ClaimList, answer.body, what).items.map((claim) => claimState(namespace, claim));
  }

  /**
   * Watches the claim until it is Ready with its Sandbox named; fails fast on a terminal reason
   * or a deletion, and with SandboxTimeout at the deadline. `created` (the create call's answer)
   * saves the first list.
   */
  async waitReady(
    namespace: string,
    name: string,
    timeoutMs: number,
    created: ClaimObject | undefined,
    signal?: AbortSignal,
  ): Promise<ClaimObject> {
    const version = await this.readVersion(signal);
    const what = `watching SandboxClaim ${namespace}/${name}`;
    const startedAt = Date.now();
    const deadline = AbortSignal.timeout(timeoutMs);
    const watchSignal = signal ? AbortSignal.any([signal, deadline]) : deadline;
    let last = created;
    let rv: string | undefined;
    if (created) {
      if (claimOutcome(created)) return created;
      rv = created.metadata.resourceVersion;
    }
    const timedOut = (): SandboxTimeout =>
      new SandboxTimeout(name, timeoutMs, last && readyCondition(last)?.reason);
    const query = { fieldSelector: `metadata.name=${name}` };
    try {
      for (;;) {
        watchSignal.throwIfAborted();
        if (rv === undefined) {
          const answer = await this.api.call(what, 'GET', this.path(version, namespace), {
            query,
            signal: watchSignal,
          });
          if (answer.status !== 200) throw refusal(what, answer);
          const listed = parsed(ClaimList, answer.body, what);
          last = listed.items[0];
          if (!last)
            throw new ClaimFailed(
              name,
              'Deleted',
              'the SandboxClaim does not exist (deleted while waiting?)',
            );
          if (claimOutcome(last)) return last;
          rv = listed.metadata?.resourceVersion;
        }
        const seconds = Math.max(1, Math.ceil((startedAt + timeoutMs - Date.now()) / 1000));
        const watchStarted = Date.now();
        try {
          for await (const event of this.api.watch(what, this.path(version, namespace), seconds, {
            query: { ...query, resourceVersion: rv },
            signal: watchSignal,
          })) {
            if (event.type === 'ERROR') {
              const code = (event.object as { code?: unknown } | undefined)?.code;
              if (code === 410) {
                rv = undefined;
                break;
              }
              throw new KubernetesError(`${what}: ${JSON.stringify(event.object)}`);
            }
            if (event.type === 'BOOKMARK') {
              // A bookmark's object carries only its resourceVersion.
              rv = parsed(Bookmark, event.object, what).metadata.resourceVersion;
              continue;
            }
            const obj = parsed(ClaimObject, event.object, what);
            rv = obj.metadata.resourceVersion ?? rv;
            if (event.type === 'DELETED') {
              throw new ClaimFailed(name, 'Deleted', 'the SandboxClaim was deleted while waiting for it');
            }
            last = obj;
            if (claimOutcome(obj)) return obj;
          }
        } catch (error) {
          if (!(error instanceof KubernetesError && error.status === 410)) throw error;
          rv = undefined;
        }
        await beforeRewatch(watchStarted, watchSignal);
      }
    } catch (error) {
      if (deadline.aborted && !signal?.aborted) throw timedOut();
      throw error;
    }
  }
}
