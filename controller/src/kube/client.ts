/**
 * `KubeClient` for any ResourceType, core or custom, over the shared keep-alive transport. Every
 * write names field manager `sandbank-controller`; every failure is a `KubeError`.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeError, isKubeError } from './errors.js';
import { apiVersionOf, resourcePath } from './resources.js';
import type { KubeTransport } from './transport.js';
import { transportFor } from './transport.js';
import type { DeleteOptions, KubeClient, KubeObject, ResourceType } from './types.js';

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

  return {
    async get<T extends KubeObject>(
      type: ResourceType,
      namespace: string,
      name: string,
    ): Promise<T | undefined> {
      try {
        return await transport.request<T>({ method: 'GET', path: resourcePath(type, namespace, name) });
      } catch (err) {
        if (isKubeError(err, 'NotFound')) return undefined;
        throw err;
      }
    },

    create<T extends KubeObject>(type: ResourceType, namespace: string, obj: T): Promise<T> {
      return transport.request<T>({
        method: 'POST',
        path: resourcePath(type, namespace),
        query: writeQuery,
        body: complete(type, namespace, obj),
      });
    },

    replace<T extends KubeObject>(type: ResourceType, namespace: string, obj: T): Promise<T> {
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
      return transport.request<T>({
        method: 'PUT',
        path: resourcePath(type, namespace, name),
        query: writeQuery,
        body: complete(type, namespace, obj),
      });
    },

    mergePatch<T extends KubeObject>(
      type: ResourceType,
      namespace: string,
      name: string,
      patch: Record<string, unknown>,
      patchOpts?: { readonly resourceVersion?: string },
    ): Promise<T> {
      return transport.request<T>({
        method: 'PATCH',
        path: resourcePath(type, namespace, name),
        query: writeQuery,
        contentType: MERGE_PATCH,
        body: patchOpts?.resourceVersion ? withResourceVersion(patch, patchOpts.resourceVersion) : patch,
      });
    },

    patchStatus<T extends KubeObject>(
      type: ResourceType,
      namespace: string,
      name: string,
      status: Record<string, unknown>,
    ): Promise<T> {
      return transport.request<T>({
        method: 'PATCH',
        path: resourcePath(type, namespace, name, 'status'),
        query: writeQuery,
        contentType: MERGE_PATCH,
        body: { status },
      });
    },

    async delete(
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
      try {
        await transport.request<unknown>({
          method: 'DELETE',
          path: resourcePath(type, namespace, name),
          body,
        });
        return true;
      } catch (err) {
        if (isKubeError(err, 'NotFound')) return false;
        throw err;
      }
    },
  };
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
