/** Carries out a pool plan, recording expectations before each write so a lagging cache cannot
 * make the next pass create or delete twice. */
import { randomInt } from 'node:crypto';
import {
  keyOf,
  type PersistentVolumeClaimTemplate,
  type Pod,
  type SandboxWarmPool,
  type Stored,
} from '@sandbank/api';
import { isKubeError, PERSISTENT_VOLUME_CLAIMS, PODS, SANDBOX_WARM_POOLS } from '@sandbank/kube';
import type { Logger } from '../../observability/logger.js';
import type { ReconcilerDeps } from '../deps.js';
import { memberClaims, withClaimVolumes, type VolumeClaimObject } from '../shared/pure-pods.js';
import type { PoolPlan } from './plan.js';

/** What the API server's generateName draws from (no vowels, no look-alikes), and as many. */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const NAME_SUFFIX_LENGTH = 5;
/** The API server's cut of a generateName prefix, so that prefix + suffix is a DNS label. */
const MAX_PREFIX_LENGTH = 63 - NAME_SUFFIX_LENGTH;
const NAME_ATTEMPTS = 8;

/** `<pool>-<5 chars>`, as `generateName: <pool>-` would name it. */
function memberName(poolName: string): string {
  let suffix = '';
  for (let i = 0; i < NAME_SUFFIX_LENGTH; i++)
    suffix += NAME_ALPHABET.charAt(randomInt(NAME_ALPHABET.length));
  return `${`${poolName}-`.slice(0, MAX_PREFIX_LENGTH)}${suffix}`;
}

/**
 * Creates a member that mounts its volume claims: the Pod must name them in its spec, so it is
 * named here, not by the API server, and a name another object took is drawn again.
 */
async function createNamedMember(
  deps: ReconcilerDeps,
  ns: string,
  poolName: string,
  pod: Pod,
  templates: readonly PersistentVolumeClaimTemplate[],
): Promise<Stored<Pod>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await deps.client.create(PODS, ns, withClaimVolumes(pod, memberName(poolName), templates));
    } catch (error) {
      if (!isKubeError(error, 'AlreadyExists') || attempt >= NAME_ATTEMPTS) throw error;
    }
  }
}

async function createClaims(deps: ReconcilerDeps, ns: string, pvcs: readonly VolumeClaimObject[]) {
  await Promise.all(pvcs.map((pvc) => deps.client.createIfAbsent(PERSISTENT_VOLUME_CLAIMS, ns, pvc)));
}

export async function applyPoolPlan(
  deps: ReconcilerDeps,
  pool: Readonly<Stored<SandboxWarmPool>>,
  plan: PoolPlan,
  log: Logger,
): Promise<void> {
  const key = keyOf(pool);
  const ns = pool.metadata.namespace;
  for (const action of plan.actions) {
    switch (action.type) {
      case 'create-pods': {
        deps.poolExpectations.expectCreations(key, action.count);
        const templates = action.volumeClaimTemplates;
        const createOne = (): Promise<Stored<Pod>> =>
          templates.length === 0
            ? deps.client.create(PODS, ns, action.pod)
            : createNamedMember(deps, ns, pool.metadata.name, action.pod, templates);
        const results = await Promise.allSettled(Array.from({ length: action.count }, createOne));
        const failed = results.filter((r) => r.status === 'rejected');
        // A create that failed will never be observed: lower the expectation for it now.
        for (let i = 0; i < failed.length; i++) deps.poolExpectations.creationObserved(key);
        if (results.length > failed.length)
          log.info({ created: results.length - failed.length }, 'warm pods created');
        // The created Pods' claims; one that fails here is made by the next pass (create-pvcs).
        const created = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        await createClaims(
          deps,
          ns,
          created.flatMap((pod) => memberClaims(pod, templates)),
        );
        if (failed[0]?.status === 'rejected') {
          const reason: unknown = failed[0].reason;
          const message = reason instanceof Error ? reason.message : String(reason);
          deps.events.event(pool, 'Warning', 'FailedCreate', `could not create warm pods: ${message}`);
          throw reason;
        }
        break;
      }
      case 'create-pvcs':
        await createClaims(deps, ns, action.pvcs);
        log.info({ claims: action.pvcs.map((p) => p.metadata.name) }, 'missing member volume claims created');
        break;
      case 'delete-pods':
        for (const pod of action.pods) deps.poolExpectations.expectDeletion(key, pod.uid);
        await Promise.all(
          action.pods.map(async (pod) => {
            try {
              const deleted = await deps.client.delete(PODS, ns, pod.name, {
                uid: pod.uid,
                resourceVersion: pod.resourceVersion,
              });
              if (!deleted) deps.poolExpectations.deletionObserved(key, pod.uid);
            } catch (error) {
              deps.poolExpectations.deletionObserved(key, pod.uid);
              // Conflict: a precondition failed — the Pod was claimed, changed or replaced meanwhile.
              if (!isKubeError(error, 'Conflict')) throw error;
            }
          }),
        );
        log.info({ deleted: action.pods.length }, 'warm pods deleted');
        break;
      case 'event':
        deps.events.event(pool, action.eventType, action.reason, action.message);
        break;
    }
  }
  if (plan.status) {
    await deps.client.patchStatus(SANDBOX_WARM_POOLS, ns, pool.metadata.name, { ...plan.status });
  }
  deps.metrics.poolReplicas(ns, pool.metadata.name, {
    desired: pool.spec.replicas,
    ready: plan.status?.readyReplicas ?? pool.status?.readyReplicas ?? 0,
  });
}
