/**
 * The one way work reaches a sandbox, the same for an HTTP request, a WebSocket session and a
 * relayed gRPC call: draining check → target → authenticate and authorize (credentials not yet
 * known first pay the client address's pre-auth limit) → the principal's namespace scope (the
 * one check of it, before the sandbox is looked up) → the principal's stream slot → deadline →
 * span and metrics → dial. What it holds (the slot, the deadline timer, the
 * agent channel, the shutdown tracker's entry, the span, the in-flight gauge) it gives back when it
 * is disposed, and that is also when the request is counted, timed and logged:
 *
 * ```ts
 * await using admission = new Admission(ctx, { surface: 'v1', route, spanName, carrier, remoteAddress });
 * try {
 *   const scope = await admission.admit({ target, budget, authorization });
 *   const { agent, options } = await scope.connect();
 *   …
 * } catch (thrown) {
 *   render(admission.fail(thrown));
 * }
 * ```
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Context, Span } from '@opentelemetry/api';
import type { Metadata } from '@grpc/grpc-js';
import type { AgentClient, AgentPromiseClient } from '@sandbank/proto';
import type { AgentLease } from '../agent/pool.js';
import { fromAgentError } from '../agent/status.js';
import { refuseOutOfScope } from '../auth/index.js';
import type { Principal } from '../auth/index.js';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { StreamSlot } from '../limits.js';
import type { Surface } from '../observability/metrics.js';
import { extractContext, tracer } from '../observability/tracing.js';
import type { Endpoint, SandboxRef } from '../resolve/index.js';
import type { Budget } from './budget.js';
import { clientAddress } from './client-address.js';

/** What a surface knows of a request the moment it arrives. */
export interface Arrival {
  readonly surface: Surface;
  /** The route template, a metric label (never the concrete path). */
  readonly route: string;
  readonly spanName: string;
  /** Where the caller's trace context is: HTTP headers, or gRPC metadata as a map. */
  readonly carrier: Record<string, string | string[] | undefined>;
  /** The client's address as the socket gives it (normalized here; a port is the surface's to drop). */
  readonly remoteAddress: string;
  /** Accepted on the loopback listener kubectl port-forward reaches (the socket's listener says so). */
  readonly viaPortForward?: boolean;
  /** A browser sent it for a page (auth/principal.ts `sentByBrowserPage`). */
  readonly fromBrowser?: boolean;
  /** Access-log fields only the surface knows, read when the admission ends (an HTTP status). */
  readonly logFields?: () => Record<string, unknown>;
}

/**
 * What the admission checks, in order; each may throw a RouterError. `T` is the target as the
 * surface parsed it (the legacy headers carry more than the sandbox's name): parsed here once,
 * handed on in the Scope.
 */
export interface AdmitRequest<T extends SandboxRef = SandboxRef> {
  /** The sandbox asked for (invalid_argument or not_found for a malformed one). */
  readonly target: () => T;
  /** How long the work may take (invalid_argument for a malformed X-Sandbox-Timeout). */
  readonly budget: () => Budget;
  readonly authorization: string | undefined;
}

/** An admitted request: who asked for what, until when. */
export interface Scope<T extends SandboxRef = SandboxRef> {
  /** What `AdmitRequest.target` returned, for the handler to use rather than parse again. */
  readonly target: T;
  readonly principal: Principal;
  /** Aborted when the caller goes away, the deadline passes, or shutdown cuts the work. */
  readonly signal: AbortSignal;
  /** Absolute, ms since the epoch. */
  readonly deadline: number;
  /**
   * The sandbox's Ready endpoint now (RouterError not_found / sandbox_not_ready), checked against
   * the authorization as `connect` checks it; for surfaces that reach the pod without the agent.
   */
  resolve(): Endpoint;
  /** Dials the sandbox's agent, the last stage; the channel is released with the admission. */
  connect(): Promise<Connection>;
}

/** A dialled agent and the options every call of this request takes. */
export interface Connection {
  readonly endpoint: Endpoint;
  readonly agent: AgentPromiseClient;
  /** The grpc-js client under `agent`, for relaying calls as raw bytes. */
  readonly client: AgentClient;
  readonly options: {
    /** The pod's agent credential and this request's trace context. */
    readonly metadata: Metadata;
    readonly deadline: number;
    readonly signal: AbortSignal;
  };
}

/** A request from the moment it arrives (timed, traced, in flight) until it is disposed of. */
export class Admission implements AsyncDisposable {
  private readonly started = process.hrtime.bigint();
  private readonly controller = new AbortController();
  private readonly untrack: () => void;
  private readonly trace: Context;
  private readonly span: Span;
  private target: SandboxRef | undefined;
  private principal: Principal | undefined;
  private slot: StreamSlot | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lease: AgentLease | undefined;
  private code: ErrorCode | undefined;
  /**
   * The claim name `kubernetes` mode asked RBAC about, once it asked (the controlling claim, or
   * the Sandbox's own name): what every later resolution of this request must still agree with.
   */
  private reviewed: { readonly name: string } | undefined;

  constructor(
    private readonly ctx: RouterContext,
    private readonly arrival: Arrival,
  ) {
    this.untrack = ctx.tracker.add(this.controller);
    ctx.metrics.inflight.inc({ surface: arrival.surface });
    this.trace = extractContext(arrival.carrier);
    this.span = tracer.startSpan(arrival.spanName, { kind: SpanKind.SERVER }, this.trace);
  }

  /** Ends the work early (the caller went away); a no-op once aborted. */
  abort(reason: RouterError): void {
    this.controller.abort(reason);
  }

  async admit<T extends SandboxRef>(request: AdmitRequest<T>): Promise<Scope<T>> {
    if (this.ctx.tracker.draining)
      throw new RouterError('shutting_down', 'the router is shutting down; retry');
    const target = request.target();
    this.target = target;
    const budget = request.budget();
    const principal = await this.ctx.auth.authorize(
      {
        authorization: request.authorization,
        remoteAddress: clientAddress(this.arrival.remoteAddress),
        viaPortForward: this.arrival.viaPortForward === true,
        fromBrowser: this.arrival.fromBrowser === true,
      },
      // Only the sandbox's name: a surface's own fields (a legacy port, a pod-IP hint) are not the
      // authenticator's to see.
      { namespace: target.namespace, name: target.name, claim: () => this.reviewedClaim(target) },
    );
    this.principal = principal;
    try {
      refuseOutOfScope(principal, target);
    } catch (error) {
      this.ctx.metrics.authDecisions.inc({ mode: principal.mode, decision: 'out_of_scope' });
      throw error;
    }
    // counted here, after the scope check, so a request is counted once: allowed or out_of_scope
    this.ctx.metrics.authDecisions.inc({ mode: principal.mode, decision: 'allowed' });
    this.slot = this.ctx.limiter.acquire(principal.callerKey);
    const { expired } = budget;
    if (expired) this.timer = setTimeout(() => this.abort(expired()), budget.deadline - Date.now());
    this.span.setAttribute('sandbank.sandbox', `${target.namespace}/${target.name}`);
    const signal = this.controller.signal;
    return {
      target,
      principal,
      signal,
      deadline: budget.deadline,
      resolve: () => this.checked(this.ctx.gateway.resolve(target), target),
      connect: () => this.connect(target, budget),
    };
  }

  /** The controlling claim, read once per request, so the review and the dial see one answer. */
  private reviewedClaim(target: SandboxRef): string | undefined {
    if (this.reviewed === undefined) {
      const claim = this.ctx.gateway.claimOf(target);
      this.reviewed = { name: claim ?? target.name };
      return claim;
    }
    return this.reviewed.name;
  }

  /**
   * `endpoint`, unless its controlling claim is not the one RBAC was asked about: a Sandbox's
   * owner reference can be rewritten between the review and the dial.
   */
  private checked(endpoint: Endpoint, target: SandboxRef): Endpoint {
    if (this.reviewed !== undefined && (endpoint.claim ?? target.name) !== this.reviewed.name) {
      throw new RouterError(
        'sandbox_not_ready',
        `sandbox ${target.namespace}/${target.name} changed owner while the request was authorized; retry`,
        { retryAfterSeconds: 1 },
      );
    }
    return endpoint;
  }

  private async connect(target: SandboxRef, budget: Budget): Promise<Connection> {
    if (this.lease) throw new RouterError('internal', 'a request dials its sandbox once');
    const signal = this.controller.signal;
    const { endpoint, lease } = await this.ctx.gateway.connect(target, signal);
    this.lease = lease;
    this.checked(endpoint, target);
    return {
      endpoint,
      agent: lease.agent,
      client: lease.client,
      options: {
        metadata: this.ctx.gateway.metadata(endpoint, this.trace, this.span),
        deadline: budget.deadline,
        signal,
      },
    };
  }

  /**
   * The failure as the caller should see it, recorded as the request's outcome: an abort's reason
   * (deadline, shutdown) before the cancelled call it caused, an agent's gRPC status mapped to a
   * code, anything else `internal` (and logged).
   */
  fail(thrown: unknown): RouterError {
    const reason: unknown = this.controller.signal.aborted ? this.controller.signal.reason : undefined;
    const error =
      reason instanceof RouterError && reason.code !== 'canceled' ? reason : fromAgentError(thrown);
    this.code = error.code;
    if (error.code === 'internal') {
      this.ctx.log.error(
        { err: error.cause, surface: this.arrival.surface, route: this.arrival.route },
        'internal error',
      );
    }
    if (error.httpStatus >= 502 && error.httpStatus !== 503)
      this.ctx.metrics.upstreamErrors.inc({ code: error.code });
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: error.code });
    return error;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearTimeout(this.timer);
    this.lease?.release();
    this.slot?.release();
    this.untrack();
    const { surface, route } = this.arrival;
    const ms = Number(process.hrtime.bigint() - this.started) / 1e6;
    const code = this.code ?? 'ok';
    this.ctx.metrics.requests.inc({ surface, route, code });
    this.ctx.metrics.duration.observe({ surface, route }, ms / 1000);
    this.ctx.metrics.inflight.dec({ surface });
    this.ctx.log.info(
      {
        surface,
        route,
        ms: Math.round(ms * 100) / 100,
        code,
        sandbox: this.target ? `${this.target.namespace}/${this.target.name}` : undefined,
        caller: this.principal?.name,
        remote: this.arrival.remoteAddress,
        ...this.arrival.logFields?.(),
      },
      'request',
    );
    this.span.end();
  }
}
