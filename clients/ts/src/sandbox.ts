/**
 * `Sandbox`: a handle on one claimed sandbox.
 *
 *   await using sb = await Sandbox.create({ template: 'python-runtime' });
 *
 * Leaving the `await using` block (also on an exception) deletes a claim the handle created; an
 * aborted or failed `create` deletes the claim it made before it rejects.
 */
import { ConfigurationError } from './client-errors.js';
import { Commands } from './commands/commands.js';
import { Files } from './files.js';
import { Ports } from './ports.js';
import type { SandboxTarget } from './connection.js';
import {
  claimBody,
  claimVersion,
  requireTemplateOrPool,
  type ClaimRequest,
  type ClaimState,
  type KubeOptions,
} from './kube/index.js';
import { connectKube, deleteBounded, newClaimName, provision, type Provisioned } from './lifecycle.js';
import { ConnectOptionsSchema, CreateOptionsSchema, ListOptionsSchema, parseOptions } from './options.js';
import type { Mode, Route, RouteOptions } from './route/index.js';

/** Default wait for a created claim to be Ready (a warm pod is bound in milliseconds; a cold start takes longer). */
const CREATE_TIMEOUT_MS = 180_000;
/** Default wait for an existing claim to be Ready. */
const ATTACH_TIMEOUT_MS = 30_000;

export interface ConnectOptions extends RouteOptions, KubeOptions {
  /** The claim's namespace. Default `default`. */
  readonly namespace?: string | undefined;
  /** Stops the call; a claim it created is deleted before it rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** How long to wait until the claim is Ready. */
  readonly timeoutMs?: number | undefined;
}

export interface CreateOptions extends ConnectOptions {
  /** A SandboxTemplate; may be omitted when `pool` names a pool (its template is used). */
  readonly template?: string | undefined;
  /** A SandboxWarmPool to take a warm sandbox from, or `none` for a cold start. */
  readonly pool?: string | undefined;
  /** Environment variables for the sandbox (needs the template's envVarsInjectionPolicy; starts cold). */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Labels on the claim. */
  readonly labels?: Readonly<Record<string, string>> | undefined;
  /** The claim deletes itself this long after creation, even if this process dies. */
  readonly shutdownAfterSeconds?: number | undefined;
  /** The claim's name. Default `sandbox-claim-<8 hex>`. */
  readonly name?: string | undefined;
}

/** The options of `Sandbox.list`. */
export interface ListOptions extends KubeOptions {
  readonly namespace?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export type { ClaimState };

/** A handle on one claimed sandbox: its commands, files and ports, and the claim's end. */
export class Sandbox implements AsyncDisposable {
  /** How the router is reached, for commands, files, processes and ports (and how it is trusted, for their errors). */
  readonly connection: Route;
  readonly target: SandboxTarget;
  /** `direct`, `gateway` or `dev`. */
  readonly mode: Mode;
  /** Whether this handle created the claim (then `close()` deletes it). */
  readonly owned: boolean;
  /** Commands, terminals and background processes in the sandbox. */
  readonly commands: Commands;
  /** The sandbox's files. */
  readonly files: Files;
  /** The sandbox's ports through the router, and preview links to them. */
  readonly ports: Ports;
  private finished: Promise<void> | undefined;

  private constructor(private readonly provisioned: Provisioned) {
    this.connection = provisioned.route;
    this.mode = provisioned.route.mode;
    this.owned = provisioned.owned;
    this.target = {
      namespace: provisioned.namespace,
      claimName: provisioned.claimName,
      sandboxName: provisioned.sandboxName,
    };
    this.commands = new Commands(this.connection, this.target);
    this.files = new Files(this.connection, this.target);
    this.ports = new Ports(this.connection, this.target);
  }

  get namespace(): string {
    return this.target.namespace;
  }

  get claimName(): string {
    return this.target.claimName;
  }

  /**
   * Claims a sandbox (warm from a pool when one is ready) and waits until it is Ready. The router
   * is reached directly at `routerUrl`, through the Gateway `gatewayName`, or else by a
   * port-forward this handle runs (dev mode).
   */
  static async create(given: CreateOptions): Promise<Sandbox> {
    const options = parseOptions(CreateOptionsSchema, given);
    const request: ClaimRequest = {
      template: options.template,
      pool: options.pool,
      env: options.env,
      labels: options.labels,
      shutdownAfterSeconds: options.shutdownAfterSeconds,
    };
    requireTemplateOrPool(request);
    const timeoutMs = options.timeoutMs ?? CREATE_TIMEOUT_MS;
    const namespace = options.namespace ?? 'default';
    const claimName = options.name ?? newClaimName();
    options.signal?.throwIfAborted();
    const kube = connectKube(options);
    const version = claimVersion(await kube.claims.served(options.signal), request);
    // v1alpha1 names a template: the pool's, when only a pool was named.
    const template =
      version === 'v1alpha1' && !request.template && request.pool
        ? await kube.claims.poolTemplate(namespace, request.pool, options.signal)
        : request.template;
    const body = claimBody(version, claimName, request, template);
    return new Sandbox(
      await provision({
        kube,
        namespace,
        claimName,
        route: options,
        signal: options.signal,
        timeoutMs,
        create: (signal) => kube.claims.create(namespace, version, body, claimName, signal),
      }),
    );
  }

  /** A handle on the existing claim `claimName` (waits until it is Ready). `close()` keeps the claim. */
  static async attach(claimName: string, given: ConnectOptions = {}): Promise<Sandbox> {
    if (typeof claimName !== 'string' || !claimName) throw new ConfigurationError('claimName: required');
    const options = parseOptions(ConnectOptionsSchema, given);
    const timeoutMs = options.timeoutMs ?? ATTACH_TIMEOUT_MS;
    options.signal?.throwIfAborted();
    return new Sandbox(
      await provision({
        kube: connectKube(options),
        namespace: options.namespace ?? 'default',
        claimName,
        route: options,
        signal: options.signal,
        timeoutMs,
        create: undefined,
      }),
    );
  }

  /** The claims in a namespace with their state. */
  static async list(given: ListOptions = {}): Promise<ClaimState[]> {
    const options = parseOptions(ListOptionsSchema, given);
    return connectKube(options).claims.list(options.namespace ?? 'default', options.signal);
  }

  /**
   * Deletes the claim `claimName` in any state (a failed or pending one too) without opening a
   * route; its Sandbox and Pod follow. False when there was no such claim.
   */
  static async deleteClaim(claimName: string, given: ListOptions = {}): Promise<boolean> {
    if (typeof claimName !== 'string' || !claimName) throw new ConfigurationError('claimName: required');
    const options = parseOptions(ListOptionsSchema, given);
    options.signal?.throwIfAborted();
    const kube = connectKube(options);
    return deleteBounded(kube.claims, options.namespace ?? 'default', claimName, false);
  }

  /** Closes the route; deletes the claim if this handle created it. Idempotent. */
  close(): Promise<void> {
    return this.finish(this.owned);
  }

  /** Closes the route and keeps the claim (attach to it again later by name). */
  detach(): Promise<void> {
    return this.finish(false);
  }

  /** Deletes the claim, whoever created it (its Sandbox and Pod follow), and closes the route. */
  delete(): Promise<void> {
    return this.finish(true);
  }

  /** What `await using` calls when the scope ends: `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Only the first call acts; later calls wait for it. */
  private finish(deleteClaim: boolean): Promise<void> {
    this.finished ??= (async () => {
      const { kube, namespace, claimName } = this.provisioned;
      await this.connection.close();
      if (deleteClaim) await deleteBounded(kube.claims, namespace, claimName, false);
    })();
    return this.finished;
  }
}
