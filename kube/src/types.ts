/**
 * The narrow interfaces the controller and the router use to read caches and write to the API
 * server. Only this package implements them (with @kubernetes/client-node for credentials);
 * reconcilers and tests depend on these shapes alone.
 */
import type { ObjectMeta, Stored } from '@sandbank/api';

/** Any object with metadata: a body to write, or (as `Stored<T>`) one the API server returned. */
export interface KubeObject {
  // `| undefined` so zod-inferred types (which spell optional fields that way) are KubeObjects
  // under exactOptionalPropertyTypes.
  apiVersion?: string | undefined;
  kind?: string | undefined;
  metadata: ObjectMeta;
}

/**
 * A collection in the API, as list and watch address it: `group` is '' for the core group.
 * `Namespaced` is the literal `true` or `false` for a known kind, so that what is read from it
 * has the identity of its scope (see `Stored`).
 */
export interface ApiCollection<Namespaced extends boolean = boolean> {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespaced: Namespaced;
}

/** A kind the client reads and writes. */
export interface ResourceType<Namespaced extends boolean = boolean> extends ApiCollection<Namespaced> {
  readonly kind: string;
}

/** The classes of API failure that change what a caller does next. */
export type KubeErrorKind =
  'NotFound' | 'Conflict' | 'AlreadyExists' | 'Invalid' | 'Forbidden' | 'Gone' | 'Unavailable' | 'Other';

export interface DeleteOptions {
  /** Only delete the object with this UID (a precondition; Conflict otherwise). */
  readonly uid?: string;
  /** Only delete at this resourceVersion (a precondition; Conflict otherwise). */
  readonly resourceVersion?: string;
  readonly propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
}

export interface ListOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

/** One consistent list: every item (all pages) and the resourceVersion a watch resumes from. */
export interface ListResult<T> {
  readonly items: readonly T[];
  readonly resourceVersion: string;
}

/** Writes the whole object `obj` of `type` to `namespace`; resolves with what the server stored. */
export type ObjectWrite = <T extends KubeObject, N extends boolean = true>(
  type: ResourceType<N>,
  namespace: string,
  obj: T,
) => Promise<Stored<T, N>>;

/**
 * Writes and authoritative reads. Every method throws `KubeError` (see errors.ts) on failure.
 * Every object returned carries its stored identity (a response without it is a `KubeError`);
 * the rest of `T` is the caller's to trust, as the kind's schema is not applied here. All writes
 * use the client's field manager.
 */
export interface KubeClient {
  /** Read straight from the API server (not a cache); undefined when not found. */
  get<T extends KubeObject, N extends boolean = true>(
    type: ResourceType<N>,
    namespace: string,
    name: string,
  ): Promise<Stored<T, N> | undefined>;
  /** Every object of the collection (read page by page); '' namespace: all namespaces. */
  list<T extends KubeObject, N extends boolean = true>(
    type: ResourceType<N>,
    namespace: string,
    opts?: ListOptions,
  ): Promise<ListResult<Stored<T, N>>>;
  readonly create: ObjectWrite;
  /**
   * Creates `obj` unless an object of that name exists: undefined then (409 AlreadyExists is the
   * answer, not a failure). For objects whose name says what they are, e.g. a Service per pod.
   */
  createIfAbsent<T extends KubeObject, N extends boolean = true>(
    type: ResourceType<N>,
    namespace: string,
    obj: T,
  ): Promise<Stored<T, N> | undefined>;
  /**
   * PUT of the whole object. `obj.metadata.resourceVersion` must be set: the write succeeds only
   * if nobody changed the object since (409 Conflict otherwise) — the exclusive win of binding.
   */
  readonly replace: ObjectWrite;
  /**
   * JSON merge patch of the object (not its status). With `resourceVersion` the patch carries
   * it, so the server refuses it with 409 if the object changed since.
   */
  mergePatch<T extends KubeObject, N extends boolean = true>(
    type: ResourceType<N>,
    namespace: string,
    name: string,
    patch: Record<string, unknown>,
    opts?: { readonly resourceVersion?: string },
  ): Promise<Stored<T, N>>;
  /** JSON merge patch of the status subresource. */
  patchStatus<T extends KubeObject, N extends boolean = true>(
    type: ResourceType<N>,
    namespace: string,
    name: string,
    status: Record<string, unknown>,
  ): Promise<Stored<T, N>>;
  /** Deletes; resolves `false` when the object was already gone. */
  delete(type: ResourceType, namespace: string, name: string, opts?: DeleteOptions): Promise<boolean>;
}

/**
 * Read-only view of one informer's cache: stored objects (identity present), as frozen
 * snapshots — never mutate them.
 */
export interface Cache<T extends KubeObject, N extends boolean = true> {
  get(namespace: string, name: string): Readonly<Stored<T, N>> | undefined;
  list(namespace?: string): readonly Readonly<Stored<T, N>>[];
  /** Objects whose indexer returned `value` for `index`. */
  byIndex(index: string, value: string): readonly Readonly<Stored<T, N>>[];
  hasSynced(): boolean;
}

export type InformerEvent<T> =
  | { readonly type: 'add'; readonly obj: Readonly<T> }
  | { readonly type: 'update'; readonly obj: Readonly<T>; readonly old: Readonly<T> }
  | { readonly type: 'delete'; readonly obj: Readonly<T> };

export interface Informer<T extends KubeObject, N extends boolean = true> extends Cache<T, N> {
  /** Handlers run synchronously on every change; they may only enqueue keys. */
  onEvent(handler: (event: InformerEvent<Stored<T, N>>) => void): void;
  /** Lists, then watches; resolves once the first list is in the cache. */
  start(): Promise<void>;
  stop(): void;
}

/** Computes index values of an object (e.g. pods by pool label). */
export type Indexer<T> = (obj: Readonly<T>) => readonly string[];

/** An event on an object (`kubectl describe` shows it). Emitting never throws. */
export interface EventRecorder {
  event(regarding: Stored<KubeObject>, type: 'Normal' | 'Warning', reason: string, message: string): void;
}
