/**
 * The narrow interfaces the reconcilers use to read caches and write to the API server. Only
 * `kube/*` implements them with @kubernetes/client-node; reconcilers and tests depend on these
 * shapes alone.
 */
import type { ObjectMeta } from '@sandbank/api';

/** Any object with metadata, as stored by the API server. */
export interface KubeObject {
  // `| undefined` so zod-inferred types (which spell optional fields that way) are KubeObjects
  // under exactOptionalPropertyTypes.
  apiVersion?: string | undefined;
  kind?: string | undefined;
  metadata: ObjectMeta;
}

/** Where a kind lives in the API: `group` is '' for the core group. */
export interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** The classes of API failure that change what a reconciler does next. */
export type KubeErrorKind =
  'NotFound' | 'Conflict' | 'AlreadyExists' | 'Invalid' | 'Forbidden' | 'Gone' | 'Unavailable' | 'Other';

export interface DeleteOptions {
  /** Only delete the object with this UID (a precondition; Conflict otherwise). */
  readonly uid?: string;
  /** Only delete at this resourceVersion (a precondition; Conflict otherwise). */
  readonly resourceVersion?: string;
  readonly propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
}

/**
 * Writes and authoritative reads. Every method throws `KubeError` (see kube/errors.ts) on
 * failure. All writes use field manager `sandbank-controller`.
 */
export interface KubeClient {
  /** Read straight from the API server (not the cache); undefined when not found. */
  get<T extends KubeObject>(type: ResourceType, namespace: string, name: string): Promise<T | undefined>;
  create<T extends KubeObject>(type: ResourceType, namespace: string, obj: T): Promise<T>;
  /**
   * PUT of the whole object. `obj.metadata.resourceVersion` must be set: the write succeeds only
   * if nobody changed the object since (409 Conflict otherwise) — the exclusive win of binding.
   */
  replace<T extends KubeObject>(type: ResourceType, namespace: string, obj: T): Promise<T>;
  /**
   * JSON merge patch of the object (not its status). With `resourceVersion` the patch carries
   * it, so the server refuses it with 409 if the object changed since.
   */
  mergePatch<T extends KubeObject>(
    type: ResourceType,
    namespace: string,
    name: string,
    patch: Record<string, unknown>,
    opts?: { readonly resourceVersion?: string },
  ): Promise<T>;
  /** JSON merge patch of the status subresource. */
  patchStatus<T extends KubeObject>(
    type: ResourceType,
    namespace: string,
    name: string,
    status: Record<string, unknown>,
  ): Promise<T>;
  /** Deletes; resolves `false` when the object was already gone. */
  delete(type: ResourceType, namespace: string, name: string, opts?: DeleteOptions): Promise<boolean>;
}

/** Read-only view of one informer's cache. Objects are frozen snapshots: never mutate them. */
export interface Cache<T extends KubeObject> {
  get(namespace: string, name: string): Readonly<T> | undefined;
  list(namespace?: string): readonly Readonly<T>[];
  /** Objects whose indexer returned `value` for `index`. */
  byIndex(index: string, value: string): readonly Readonly<T>[];
  hasSynced(): boolean;
}

export type InformerEvent<T> =
  | { readonly type: 'add'; readonly obj: Readonly<T> }
  | { readonly type: 'update'; readonly obj: Readonly<T>; readonly old: Readonly<T> }
  | { readonly type: 'delete'; readonly obj: Readonly<T> };

export interface Informer<T extends KubeObject> extends Cache<T> {
  /** Handlers run synchronously on every change; they may only enqueue keys. */
  onEvent(handler: (event: InformerEvent<T>) => void): void;
  /** Lists, then watches; resolves once the first list is in the cache. */
  start(): Promise<void>;
  stop(): void;
}

/** Computes index values of an object (e.g. pods by pool label). */
export type Indexer<T> = (obj: Readonly<T>) => readonly string[];

/** An event on an object (`kubectl describe` shows it). Emitting never throws. */
export interface EventRecorder {
  event(regarding: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void;
}
