/**
 * From a sandbox name to a connected agent channel: resolve (informer cache), dial (channel
 * pool), and on a dial failure drop the channel, re-resolve and try again. Only establishing the
 * connection is retried, never a call after bytes have flowed. Shared by the HTTP, WebSocket and
 * gRPC surfaces.
 *
 * Every agent call carries the pod's own credential: the token derived from the agent key and
 * the pod's `sandbank.dev/agent-credential` annotation (@sandbank/kube's agent-credential), as
 * `authorization: Bearer …`. A pod without the annotation gets no header (a runtime without the
 * Sandbank agent, a pod made by an older controller); a pod whose annotation cannot be used is
 * never called (502 upstream_failed): falling back to no header would only hide the fault.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata } from '@grpc/grpc-js';
import { AgentCredentialError, agentToken } from '@sandbank/kube';
import type { Context } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import { RouterError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { injectIntoMetadata } from '../observability/tracing.js';
import type { Endpoint, SandboxLookup, SandboxRef } from '../resolve/index.js';
import { explainBrokenCall } from './broken-stream.js';
import type { AgentLease, AgentPool } from './pool.js';

export interface GatewayOptions {
  readonly lookup: SandboxLookup;
  readonly pool: AgentPool;
  readonly log: Logger;
  /**
   * The agent key (the Secret `sandbank-agent-key` the controller made), from which each pod's
   * token is derived. Undefined: pods with a credential annotation cannot be called.
   */
  readonly agentKey?: Buffer | undefined;
  /**
   * Dial timeout per attempt. 5 s as upstream's router: a pod on a healthy network connects in
   * milliseconds; longer only delays the 502 a client would get anyway.
   */
  readonly connectTimeoutMs?: number;
  /** Delays between dial attempts; one attempt more than entries. */
  readonly retryDelaysMs?: readonly number[];
  /** How long to trust a negative gRPC probe (a pod without a Sandbank agent). */
  readonly probeNegativeTtlMs?: number;
}

export interface AgentConnection {
  readonly endpoint: Endpoint;
  readonly lease: AgentLease;
}

const MAX_PROBES_CACHED = 10_000;

export class SandboxGateway {
  private readonly probes = new Map<string, { protocol: 'grpc' | 'http'; expires: number }>();

  constructor(private readonly opts: GatewayOptions) {}

  /** The Ready endpoint of `ref`, or RouterError not_found / sandbox_not_ready. */
  resolve(ref: SandboxRef): Endpoint {
    const r = this.opts.lookup.resolve(ref);
    if (r.kind === 'ready') return r.endpoint;
    if (r.kind === 'not_found') throw new RouterError('not_found', r.message);
    if (!this.opts.lookup.hasSynced()) {
      throw new RouterError('sandbox_not_ready', 'the router is still loading sandboxes; retry', {
        retryAfterSeconds: 1,
      });
    }
    throw new RouterError('sandbox_not_ready', r.message, { retryAfterSeconds: 1 });
  }

  /**
   * The claim controlling `ref`'s Sandbox when it is routable now (a cache read, no I/O), for the
   * authorization question; undefined otherwise (nothing is routed then either).
   */
  claimOf(ref: SandboxRef): string | undefined {
    const r = this.opts.lookup.resolve(ref);
    return r.kind === 'ready' ? r.endpoint.claim : undefined;
  }

  /**
   * The `authorization` value for calls to `endpoint`'s agent: `Bearer <the pod's token>`, or
   * undefined for a pod without a credential annotation. RouterError upstream_failed when the
   * annotation is malformed or the router has no agent key.
   */
  authorization(endpoint: Endpoint): string | undefined {
    const annotation = endpoint.agentCredential;
    if (annotation === undefined) return undefined;
    const pod = `pod ${endpoint.namespace}/${endpoint.podName} of sandbox ${endpoint.sandbox}`;
    if (this.opts.agentKey === undefined) {
      throw new RouterError(
        'upstream_failed',
        `${pod} requires an agent credential, and this router has no agent key (ROUTER_AGENT_KEY_FILE)`,
      );
    }
    try {
      return `Bearer ${agentToken(this.opts.agentKey, endpoint.namespace, annotation)}`;
    } catch (error) {
      if (!(error instanceof AgentCredentialError)) throw error;
      throw new RouterError('upstream_failed', `${pod} cannot be called: ${error.message}`, { cause: error });
    }
  }

  /** Resolves and connects, retrying dial failures with a fresh resolution each time. */
  async connect(ref: SandboxRef, signal?: AbortSignal): Promise<AgentConnection> {
    const delays = this.opts.retryDelaysMs ?? [100, 300];
    const timeout = this.opts.connectTimeoutMs ?? 5_000;
    let lastError: unknown;
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      const endpoint = this.resolve(ref);
      // A pod that cannot be given its credential is refused before anything is dialled.
      this.authorization(endpoint);
      try {
        const lease = await this.opts.pool.connect(endpoint.ip, timeout, signal);
        return { endpoint, lease };
      } catch (error) {
        if (signal?.aborted) throw RouterError.from(signal.reason);
        lastError = error;
        this.opts.pool.evictIp(endpoint.ip);
        this.opts.log.debug(
          { sandbox: `${ref.namespace}/${ref.name}`, attempt, err: String(error) },
          'dial failed',
        );
        const delay = delays[attempt];
        if (delay !== undefined)
          await sleep(delay, undefined, signal ? { signal } : {}).catch(() => undefined);
      }
    }
    throw new RouterError('upstream_unavailable', `could not connect to the sandbox ${ref.name}: retry`, {
      cause: lastError,
    });
  }

  /**
   * How the endpoint's runtime is spoken to: the pod's `sandbank.dev/agent-protocol` label, or a
   * probe of the agent's gRPC port, cached per pod. A wrong `http` answer still works (the
   * Sandbank agent serves the legacy REST API too), so a failed probe is only trusted briefly.
   */
  async protocol(endpoint: Endpoint): Promise<'grpc' | 'http'> {
    if (endpoint.protocol !== 'unknown') return endpoint.protocol;
    const hit = this.probes.get(endpoint.podUid);
    if (hit && hit.expires > Date.now()) return hit.protocol;
    let protocol: 'grpc' | 'http' = 'http';
    try {
      const lease = await this.opts.pool.connect(endpoint.ip, 1_500);
      lease.release();
      protocol = 'grpc';
    } catch {
      this.opts.pool.evictIp(endpoint.ip);
    }
    const ttl = protocol === 'grpc' ? Number.POSITIVE_INFINITY : (this.opts.probeNegativeTtlMs ?? 30_000);
    this.probes.set(endpoint.podUid, { protocol, expires: Date.now() + ttl });
    if (this.probes.size > MAX_PROBES_CACHED) {
      const oldest = this.probes.keys().next();
      if (!oldest.done) this.probes.delete(oldest.value);
    }
    return protocol;
  }

  /** `error` of a call to `endpoint` that broke, explained when Kubernetes knows why (broken-stream.ts). */
  explainBroken(endpoint: Endpoint, error: RouterError, signal: AbortSignal): Promise<RouterError> {
    return explainBrokenCall(this.opts.lookup, endpoint, error, signal);
  }

  /** gRPC metadata for one call to `endpoint`'s agent: the pod's credential and the trace context. */
  metadata(endpoint: Endpoint, ctx: Context, span?: Span): Metadata {
    const md = new Metadata();
    const authorization = this.authorization(endpoint);
    if (authorization !== undefined) md.set('authorization', authorization);
    return injectIntoMetadata(md, ctx, span);
  }
}
