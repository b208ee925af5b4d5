/**
 * storedVersions migration: after a CRD's storage version changes, objects written before stay
 * encoded in the old version in etcd, and `status.storedVersions` keeps listing it — so that
 * version can never be removed from the CRD. The leader (once its caches synced) rewrites every
 * object of such a CRD unchanged through the API (the API server re-encodes it in the storage
 * version: the bytes differ from etcd's, so the write reaches etcd; generation does not move),
 * then sets `storedVersions` to the storage version alone.
 *
 * With the rights the controller already has: an empty merge PATCH of the status subresource
 * (Sandboxes, claims and pools; the server writes the whole object, re-encoded, and a PATCH
 * needs no resourceVersion, so an object changed meanwhile is simply rewritten as it is now; a
 * 404 is skipped). The controller may not update or patch SandboxTemplates (they have no status
 * subresource), so a kind without one is left to the operator: logged, and its storedVersions
 * kept, since only the manual rewrite makes trimming them true (docs/conversion-webhook.md).
 * It needs a cluster-wide list, so a namespace-scoped install does not run it.
 */
import { CUSTOM_RESOURCE_DEFINITIONS, isKubeError, toKubeError } from '@sandbank/kube';
import type { KubeClient, KubeError, KubeObject, ResourceType } from '@sandbank/kube';
import { readCrd } from './crds.js';
import type { Logger } from './observability/logger.js';

/** A rewrite the API server refused: the message names the CRD and object, `cause` says why. */
export class StorageMigrationError extends Error {
  override readonly name = 'StorageMigrationError';
  constructor(
    message: string,
    override readonly cause: KubeError,
  ) {
    super(message, { cause });
  }
}

export interface MigrationResult {
  readonly crd: string;
  /** manual: the kind has no status subresource; the operator rewrites it (nothing was written). */
  readonly result: 'up-to-date' | 'migrated' | 'missing' | 'manual';
  /** Objects rewritten in the storage version. */
  readonly rewritten: number;
  /** Objects deleted while the migration ran. */
  readonly gone: number;
  readonly storedVersions: readonly string[];
}

export interface MigrationOptions {
  readonly log?: Logger;
}

/** The manual rewrite of one CRD's objects, for the log (docs/conversion-webhook.md explains it). */
export function manualMigration(crd: string, storage: string): string {
  return (
    `kubectl get ${crd} -A -o json | kubectl replace -f - && ` +
    `kubectl patch crd ${crd} --subresource=status --type=merge -p '{"status":{"storedVersions":["${storage}"]}}'`
  );
}

/**
 * Migrates each CRD of `crdNames` whose storedVersions is not exactly its storage version.
 * Throws naming the CRD (and the object) on a failure other than 409/404.
 */
export async function migrateStoredVersions(
  client: KubeClient,
  crdNames: readonly string[],
  opts: MigrationOptions = {},
): Promise<MigrationResult[]> {
  const results: MigrationResult[] = [];
  for (const name of crdNames) results.push(await migrateOne(client, name, opts));
  return results;
}

async function migrateOne(
  client: KubeClient,
  name: string,
  opts: MigrationOptions,
): Promise<MigrationResult> {
  const crd = await readCrd(client, name);
  if (crd === undefined) {
    opts.log?.warn({ crd: name }, 'storage migration: CRD not found');
    return { crd: name, result: 'missing', rewritten: 0, gone: 0, storedVersions: [] };
  }
  const { spec } = crd;
  const storageVersion = spec.versions.find((v) => v.storage);
  if (storageVersion === undefined) throw new Error(`CRD ${name}: spec.versions: no storage version`);
  const storage = storageVersion.name;
  const before = crd.status?.storedVersions ?? [];
  if (before.length === 1 && before[0] === storage) {
    return { crd: name, result: 'up-to-date', rewritten: 0, gone: 0, storedVersions: before };
  }
  if (storageVersion.subresources?.status === undefined) {
    // Rewriting these needs update on the kind itself, which the controller is not given.
    opts.log?.warn(
      {
        crd: name,
        kind: spec.names.kind,
        storedVersions: before,
        storage,
        run: manualMigration(name, storage),
      },
      `storage migration: ${spec.names.kind} has no status subresource and needs the manual step (docs/conversion-webhook.md); storedVersions kept until it is done`,
    );
    return { crd: name, result: 'manual', rewritten: 0, gone: 0, storedVersions: before };
  }
  opts.log?.info({ crd: name, storedVersions: before, storage }, 'storage migration: rewriting objects');
  const type: ResourceType = {
    group: spec.group,
    version: storage,
    plural: spec.names.plural,
    kind: spec.names.kind,
    namespaced: spec.scope === 'Namespaced',
  };
  const { items } = await client.list<KubeObject, boolean>(type, '');
  let rewritten = 0;
  let gone = 0;
  for (const item of items) {
    if (await rewrite(client, type, item, name)) rewritten++;
    else gone++;
  }
  await client.patchStatus(CUSTOM_RESOURCE_DEFINITIONS, '', name, { storedVersions: [storage] });
  opts.log?.info(
    { crd: name, rewritten, gone, storedVersions: [storage], before },
    'storage migration: done; storedVersions trimmed',
  );
  return { crd: name, result: 'migrated', rewritten, gone, storedVersions: [storage] };
}

/**
 * Writes `obj` back unchanged through its status subresource (an empty merge patch: the status
 * strategy keeps everything of the stored object, and the server still writes it because its
 * encoding changed); false when it was deleted meanwhile.
 */
async function rewrite(
  client: KubeClient,
  type: ResourceType,
  obj: KubeObject,
  crd: string,
): Promise<boolean> {
  const namespace = obj.metadata.namespace ?? '';
  const name = obj.metadata.name ?? '';
  try {
    await client.patchStatus(type, namespace, name, {});
    return true;
  } catch (error) {
    if (isKubeError(error, 'NotFound')) return false;
    const cause = toKubeError(error, `patch ${type.plural}/status`);
    throw new StorageMigrationError(
      `storage migration of ${crd}: ${namespace ? `${namespace}/` : ''}${name}: ${cause.message}`,
      cause,
    );
  }
}

export interface MigrateWhenLeadingOptions {
  readonly client: KubeClient;
  readonly crds: readonly string[];
  readonly isLeader: () => boolean;
  readonly log: Logger;
  /** How often leadership is looked at, and the first retry delay. Default 2 s. */
  readonly pollMs?: number;
}

/**
 * Waits until this replica leads, then migrates once; a failed run is retried with backoff (at
 * most every 5 minutes) for as long as the process leads. Returns a stop function.
 */
export function migrateWhenLeading(opts: MigrateWhenLeadingOptions): () => void {
  const log = opts.log.child({ component: 'storage-migration' });
  const poll = opts.pollMs ?? 2_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = poll;
  const tick = (): void => {
    if (stopped) return;
    if (!opts.isLeader()) {
      timer = setTimeout(tick, poll).unref();
      return;
    }
    migrateStoredVersions(opts.client, opts.crds, { log }).then(
      (results) =>
        log.info({ results: results.map((r) => `${r.crd}: ${r.result}`) }, 'storage migration checked'),
      (err: unknown) => {
        // Decided on the API server's answer (401/403), kept typed as the cause of a rewrite's
        // failure: an object's name in the message says nothing about rights.
        const cause = err instanceof StorageMigrationError ? err.cause : err;
        if (isKubeError(cause, 'Forbidden')) {
          // Rights do not appear by themselves: say what is missing once, do not retry forever.
          log.error(
            { err },
            'storage migration forbidden: it needs get and patch on customresourcedefinitions/status, list on the kinds and patch on their status; grant them or run the manual steps of docs/conversion-webhook.md',
          );
          return;
        }
        log.error({ err }, `storage migration failed; retrying in ${Math.round(delay / 1000)} s`);
        timer = setTimeout(tick, delay).unref();
        delay = Math.min(delay * 2, 5 * 60_000);
      },
    );
  };
  tick();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}
