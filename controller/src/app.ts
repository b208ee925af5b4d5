/**
 * Builds the whole controller — informers, reconcilers, controllers, event wiring and the
 * manager — without starting anything. `main.ts` starts it; integration tests run it in-process
 * against the real API server.
 */
import { z } from 'zod';
import {
  ObjectMeta,
  Pod,
  Sandbox,
  SandboxClaim,
  SandboxTemplate,
  SandboxWarmPool,
  type Stored,
} from '@sandbank/api';
import { withPodCredentials } from './agent-credentials.js';
import type { ControllerConfig } from './config.js';
import { workersFor } from './config.js';
import {
  createKubeClient,
  createEventRecorder,
  createInformer,
  NETWORK_POLICIES,
  PERSISTENT_VOLUME_CLAIMS,
  PODS,
  SANDBOXES,
  SANDBOX_CLAIMS,
  SANDBOX_TEMPLATES,
  SANDBOX_WARM_POOLS,
  SERVICES,
} from '@sandbank/kube';
import type { KubeConfig, Indexer, Informer, KubeObject, ResourceType } from '@sandbank/kube';
import type { Logger } from './observability/logger.js';
import type { ControllerMetrics } from './observability/metrics.js';
import type { Caches, Informers, OpaqueObject, ReconcilerDeps } from './reconcilers/deps.js';
import {
  Index,
  byClaimUid,
  byControllerUid,
  byTemplateHash,
  byTemplateName,
  byUid,
} from './reconcilers/indexes.js';
import { createSandboxReconciler } from './reconcilers/sandbox/index.js';
import { createClaimReconciler } from './reconcilers/sandbox-claim/index.js';
import { createTemplateReconciler } from './reconcilers/sandbox-template/index.js';
import { createPoolReconciler } from './reconcilers/sandbox-warm-pool/index.js';
import { createNamespaceProfiles, requeueOnProfileChange } from './reconcilers/namespace-profiles.js';
import { wireWatches } from './reconcilers/wiring.js';
import { createController } from './runtime/controller.js';
import { Expectations } from './runtime/expectations.js';
import { createManager, type Manager } from './runtime/manager.js';
import { multiNamespaceInformer } from './runtime/multi-namespace-informer.js';

export interface ControllerAppOptions {
  readonly kubeConfig: KubeConfig;
  readonly config: ControllerConfig;
  readonly log: Logger;
  readonly metrics: ControllerMetrics;
  /**
   * The agent key (`ensureAgentKey`): every Pod the app creates gets a credential derived from
   * it, so there is no way to build a controller that makes pods without one.
   */
  readonly agentKey: Buffer;
  readonly now?: () => Date;
}

export interface ControllerApp {
  readonly manager: Manager;
  /** The caches, read-only (tests look at them to wait for sync). */
  readonly caches: Caches;
}

/** Services, NetworkPolicies and PVCs: metadata checked, spec kept as is. */
const OpaqueObjectSchema = z.looseObject({ metadata: ObjectMeta, spec: z.unknown().optional() });

export function buildControllerApp(opts: ControllerAppOptions): ControllerApp {
  const { config, log } = opts;
  const now = opts.now ?? (() => new Date());
  // Every Pod written through this client gets its own agent credential (agent-credentials.ts).
  const client = withPodCredentials(createKubeClient(opts.kubeConfig), opts.agentKey);
  /**
   * All namespaces: one cluster-wide informer per kind. Otherwise one per kind and namespace (a
   * namespace-scoped install has Roles only there, so it may not list anywhere else).
   */
  const informer = <T extends KubeObject>(
    type: ResourceType<true>,
    schema: z.ZodType<T>,
    indexers: Record<string, Indexer<Stored<T>>> = {},
  ): Informer<T> => {
    const create = (namespace: string): Informer<T> =>
      createInformer<T>(opts.kubeConfig, {
        type,
        schema,
        namespace,
        indexers,
        log: log.child({ informer: type.plural }),
      });
    const [only, ...more] = config.watchNamespaces;
    if (only === undefined) return create('');
    if (more.length === 0) return create(only);
    return multiNamespaceInformer(new Map(config.watchNamespaces.map((ns) => [ns, create(ns)])));
  };

  const informers: Informers = {
    claims: informer(SANDBOX_CLAIMS, SandboxClaim, { [Index.uid]: byUid }),
    sandboxes: informer(SANDBOXES, Sandbox),
    templates: informer(SANDBOX_TEMPLATES, SandboxTemplate),
    pools: informer(SANDBOX_WARM_POOLS, SandboxWarmPool, { [Index.templateName]: byTemplateName }),
    pods: informer(PODS, Pod, {
      [Index.controllerUid]: byControllerUid,
      [Index.claimUid]: byClaimUid,
      [Index.templateHash]: byTemplateHash,
    }),
    services: informer<OpaqueObject>(SERVICES, OpaqueObjectSchema, {
      [Index.controllerUid]: byControllerUid,
    }),
    networkPolicies: informer<OpaqueObject>(NETWORK_POLICIES, OpaqueObjectSchema),
    persistentVolumeClaims: informer<OpaqueObject>(PERSISTENT_VOLUME_CLAIMS, OpaqueObjectSchema),
  };
  const caches: Caches = informers;
  const profiles = createNamespaceProfiles(opts.kubeConfig, config.profile, log);

  const poolExpectations = new Expectations();
  const deps: ReconcilerDeps = {
    caches,
    client,
    events: createEventRecorder({
      client,
      controller: 'agents.x-k8s.io/sandbank-controller',
      instance: config.leaderElection.identity,
      log,
    }),
    metrics: opts.metrics,
    poolExpectations,
    now,
    router: { podLabels: config.router.podSelector, namespaces: config.router.namespaces },
    clusterDomain: config.clusterDomain,
    profileOf: profiles.profileOf,
  };

  const reconcilers = [
    createClaimReconciler(deps),
    createSandboxReconciler(deps),
    createPoolReconciler(deps),
    createTemplateReconciler(deps),
  ];
  const controllers = reconcilers.map(({ name, watches, reconcile }) => {
    const controller = createController({
      name,
      workers: workersFor(config, name),
      reconcile,
      log,
      metrics: opts.metrics,
    });
    wireWatches(informers, watches, controller);
    return controller;
  });
  requeueOnProfileChange(profiles, caches, controllers);

  const manager = createManager({
    informers: { ...informers, namespaces: profiles.informer },
    controllers,
    log,
    ...(config.leaderElection.enabled
      ? {
          leaderElection: {
            client,
            namespace: config.leaderElection.namespace,
            name: config.leaderElection.name,
            identity: config.leaderElection.identity,
            leaseDurationMs: config.leaderElection.leaseDurationMs,
            renewDeadlineMs: config.leaderElection.renewDeadlineMs,
            retryPeriodMs: config.leaderElection.retryPeriodMs,
          },
        }
      : {}),
  });
  return { manager, caches };
}
