/**
 * The informer-backed `SandboxLookup`: three small list+watch caches (SandboxClaims, Sandboxes,
 * and only those Pods that carry a sandbox-name-hash label and no warm-pool label), read by the
 * pure `resolveSandbox`. No DNS and no headless Service are involved.
 */
import {
  formatZodError,
  Labels,
  SANDBOX_API_VERSION,
  SANDBOX_CLAIM_PLURAL,
  SANDBOX_PLURAL,
} from '@sandbank/api';
import { EXTENSIONS_API_VERSION } from '@sandbank/api';
import type { KubeConfig } from '@kubernetes/client-node';
import type { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import { ListWatch } from './list-watch.js';
import {
  ClaimView,
  PodView,
  SandboxView,
  claimEntry,
  podEntry,
  resolveSandbox,
  sandboxEntry,
} from './model.js';
import type { ClaimEntry, PodEntry, Resolution, SandboxEntry, SandboxRef } from './model.js';

/** What the HTTP, WebSocket and gRPC handlers need from resolution, and nothing more. */
export interface SandboxLookup {
  resolve(ref: SandboxRef): Resolution;
  /** True once every cache has listed once. */
  hasSynced(): boolean;
  close(): Promise<void>;
}

export interface ClusterLookupOptions {
  readonly kc: KubeConfig;
  /** Watched namespaces; empty: all. */
  readonly namespaces: readonly string[];
  readonly log: Logger;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Called after any cached object changed (tests wait on it instead of sleeping). */
  readonly onChange?: () => void;
}

/**
 * Pods worth caching: those of a sandbox, and never an unclaimed warm one. The server filters, so
 * the cache stays as small as the number of live sandboxes.
 */
export const ROUTABLE_POD_SELECTOR = `${Labels.sandboxNameHash},!${Labels.pool}`;

const key = (e: { namespace: string; name: string }): string => `${e.namespace}/${e.name}`;

function parser<S extends z.ZodType, E>(schema: S, project: (o: z.infer<S>) => E) {
  return (obj: unknown): { ok: true; entry: E } | { ok: false; error: string } => {
    const parsed = schema.safeParse(obj);
    return parsed.success
      ? { ok: true, entry: project(parsed.data) }
      : { ok: false, error: formatZodError(parsed.error) };
  };
}

export function createClusterLookup(opts: ClusterLookupOptions): SandboxLookup {
  const scopes = opts.namespaces.length === 0 ? [undefined] : opts.namespaces;
  const collection = (apiPrefix: string, plural: string, ns: string | undefined): string =>
    ns === undefined ? `${apiPrefix}/${plural}` : `${apiPrefix}/namespaces/${ns}/${plural}`;
  const onChange = opts.onChange;
  const common = {
    kc: opts.kc,
    log: opts.log,
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    ...(onChange ? { onChange: () => onChange() } : {}),
  };

  const claims = scopes.map(
    (ns) =>
      new ListWatch<ClaimEntry>({
        ...common,
        path: collection(`/apis/${EXTENSIONS_API_VERSION}`, SANDBOX_CLAIM_PLURAL, ns),
        parse: parser(ClaimView, claimEntry),
        keyOf: key,
      }),
  );
  const sandboxes = scopes.map(
    (ns) =>
      new ListWatch<SandboxEntry>({
        ...common,
        path: collection(`/apis/${SANDBOX_API_VERSION}`, SANDBOX_PLURAL, ns),
        parse: parser(SandboxView, sandboxEntry),
        keyOf: key,
      }),
  );
  const pods = scopes.map(
    (ns) =>
      new ListWatch<PodEntry>({
        ...common,
        path: collection('/api/v1', 'pods', ns),
        labelSelector: ROUTABLE_POD_SELECTOR,
        parse: parser(PodView, podEntry),
        keyOf: key,
      }),
  );
  const all = [...claims, ...sandboxes, ...pods];
  for (const lw of all) lw.start();

  const find = <E>(
    caches: readonly ListWatch<E>[],
    namespace: string,
    name: string,
  ): Readonly<E> | undefined => {
    for (const c of caches) {
      const hit = c.get(`${namespace}/${name}`);
      if (hit) return hit;
    }
    return undefined;
  };
  const watched = (ns: string): boolean => opts.namespaces.length === 0 || opts.namespaces.includes(ns);

  return {
    resolve(ref) {
      if (!watched(ref.namespace)) {
        return { kind: 'not_found', message: `namespace ${ref.namespace} is not served by this router` };
      }
      return resolveSandbox(
        {
          claim: (ns, name) => find(claims, ns, name),
          sandbox: (ns, name) => find(sandboxes, ns, name),
          pod: (ns, name) => find(pods, ns, name),
        },
        ref,
      );
    },
    hasSynced: () => all.every((lw) => lw.hasSynced()),
    async close() {
      await Promise.all(all.map((lw) => lw.stop()));
    },
  };
}
