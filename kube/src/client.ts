/**
 * `KubeClient` for any ResourceType, core or custom, over the shared keep-alive transport. Every
 * write names field manager `sandbank-controller` unless told otherwise; every failure is a
 * `KubeError`; every object returned has been checked for its stored identity.
 */
import { isStored } from '@sandbank/api';
import type { Stored } from '@sandbank/api';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeError, isKubeError } from './errors.js';
import { listPages } from './list.js';
import { apiVersionOf, resourcePath } from './resources.js';
import type { KubeTransport, RequestOptions } from './transport.js';
import { transportFor } from './transport.js';
import type {
  DeleteOptions,
  KubeClient,
  KubeErrorKind,
  KubeObject,
  ListOptions,
  ListResult,
  ResourceType,
} from './types.js';

export const FIELD_MANAGER = 'sandbank-controller';

export interface KubeClientOptions {
  /** Defaults to the transport shared by everything built from the same KubeConfig. */
  readonly transport?: KubeTransport;
  readonly fieldManager?: string;
}

const MERGE_PATCH = 'application/merge-patch+json';

export function createKubeClient(kc: KubeConfig, opts: KubeClientOptions = {}): KubeClient {
  const transport = opts.transport ?? transportFor(kc);
  const fieldManager = opts.fieldManager ?? FIELD_MANAGER;
  const writeQuery = { fieldManager };

  /** The object with apiVersion, kind and namespace filled in from `type` where missing. */
  const complete = <T extends KubeObject>(type: ResourceType, namespace: string, obj: T): T => ({
    ...obj,
    apiVersion: obj.apiVersion ?? apiVersionOf(type),
    kind: obj.kind ?? type.kind,
    metadata: type.namespaced ? { ...obj.metadata, namespace } : obj.metadata,
  });

  /** The object the server answered with; a `KubeError` when it lacks its stored identity. */
  const read = async <T extends KubeObject, N extends boolean>(
    type: ResourceType<N>,
    req: RequestOptions,
  ): Promise<Stored<T, N>> =>
    storedOf<T, N>(type, await transport.request<T>(req), `${req.method} ${req.path}`);

  const create = <T extends KubeObject, N extends boolean>(
    type: ResourceType<N>,
    namespace: string,
    obj: T,
  ): Promise<Stored<T, N>> =>
    read<T, N>(type, {
      method: 'POST',
      path: resourcePath(type, namespace),
      query: writeQuery,
      body: complete(type, namespace, obj),
    });

  return {
    async get<T extends KubeObject, N extends boolean>(
      type: ResourceType<N>,
      namespace: string,
      name: string,
    ): Promise<Stored<T, N> | undefined> {
      const path = resourcePath(type, namespace, name);
      return answerOn('NotFound', undefined, read<T, N>(type, { method: 'GET', path }));
    },

    async list<T extends KubeObject, N extends boolean>(
      type: ResourceType<N>,
      namespace: string,
      listOpts: ListOptions = {},
    ): Promise<ListResult<Stored<T, N>>> {
      const path = resourcePath(type, namespace);
      const items: Stored<T, N>[] = [];
      let resourceVersion = '';
      const query = { labelSelector: listOpts.labelSelector, fieldSelector: listOpts.fieldSelector };
      for await (const page of listPages({ transport, path, query })) {
        for (const item of page.items) items.push(storedOf<T, N>(type, item as T, `GET ${path}`));
        resourceVersion = page.resourceVersion;
      }
      return { items, resourceVersion };
    },

    create,

    createIfAbsent<T extends KubeObject, N extends boolean>(
      type: ResourceType<N>,
      namespace: string,
      obj: T,
    ): Promise<Stored<T, N> | undefined> {
      return answerOn('AlreadyExists', undefined, create<T, N>(type, namespace, obj));
    },

    replace<T extends KubeObject, N extends boolean>(
      type: ResourceType<N>,
      namespace: string,
      obj: T,
    ): Promise<Stored<T, N>> {
      const name = obj.metadata.name;
      if (!name || !obj.metadata.resourceVersion) {
        // Without a resourceVersion a PUT overwrites whatever is there: never what we want.
        return Promise.reject(
          new KubeError(
            'Invalid',
            0,
            `replace ${type.kind}: metadata.name and metadata.resourceVersion are required`,
          ),
        );
      }
      return read<T, N>(type, {
        method: 'PUT',
        path: resourcePath(type, namespace, name),
        query: writeQuery,
        body: complete(type, namespace, obj),
      });
    },

    mergePatch<T extends KubeObject, N extends boolean>(
      type: ResourceType<N>,
      namespace: string,
      name: string,
      patch: Record<string, unknown>,
      patchOpts?: { readonly resourceVersion?: string },
    ): Promise<Stored<T, N>> {
      return read<T, N>(type, {
        method: 'PATCH',
        path: resourcePath(type, namespace, name),
        query: writeQuery,
        contentType: MERGE_PATCH,
        body: patchOpts?.resourceVersion ? withResourceVersion(patch, patchOpts.resourceVersion) : patch,
      });
    },

    patchStatus<T extends KubeObject, N extends boolean>(
      type: ResourceType<N>,
      namespace: string,
      name: string,
      status: Record<string, unknown>,
    ): Promise<Stored<T, N>> {
      return read<T, N>(type, {
        method: 'PATCH',
        path: resourcePath(type, namespace, name, 'status'),
        query: writeQuery,
        contentType: MERGE_PATCH,
        body: { status },
      });
    },

    delete(
      type: ResourceType,
      namespace: string,
      name: string,
      deleteOpts: DeleteOptions = {},
    ): Promise<boolean> {
      const preconditions: Record<string, string> = {};
      if (deleteOpts.uid !== undefined) preconditions['uid'] = deleteOpts.uid;
      if (deleteOpts.resourceVersion !== undefined)
        preconditions['resourceVersion'] = deleteOpts.resourceVersion;
      const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
      if (Object.keys(preconditions).length > 0) body['preconditions'] = preconditions;
      if (deleteOpts.propagationPolicy !== undefined)
        body['propagationPolicy'] = deleteOpts.propagationPolicy;
      const deleting = transport.request<unknown>({
        method: 'DELETE',
        path: resourcePath(type, namespace, name),
        body,
      });
      return answerOn(
        'NotFound',
        false,
        deleting.then(() => true),
      );
    },
  };
}

/** What `call` resolves to, or `answer` when it fails with a `kind` error: an answer, not a failure. */
async function answerOn<V, A>(kind: KubeErrorKind, answer: A, call: Promise<V>): Promise<V | A> {
  try {
    return await call;
  } catch (err) {
    if (isKubeError(err, kind)) return answer;
    throw err;
  }
}

/**
 * `obj` as a stored object of `type`'s scope. Only the identity is checked: the client has no
 * schema for T (informers parse with one), and trusts the API server for the rest.
 */
function storedOf<T extends KubeObject, N extends boolean>(
  type: ResourceType<N>,
  obj: T,
  what: string,
): Stored<T, N> {
  if (isStored(obj, type.namespaced)) return obj;
  throw new KubeError(
    'Other',
    0,
    `${what}: the ${type.kind} returned lacks its name, uid or resourceVersion`,
  );
}

/** The patch with `metadata.resourceVersion` set: the server then refuses it (409) if stale. */
function withResourceVersion(
  patch: Record<string, unknown>,
  resourceVersion: string,
): Record<string, unknown> {
  const metadata = patch['metadata'];
  const base = typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) ? metadata : {};
  return { ...patch, metadata: { ...base, resourceVersion } };
}
