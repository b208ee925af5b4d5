/**
 * How the client reaches the router: direct (`routerUrl`), gateway (`gatewayName`) or dev mode
 * (a port-forward this client runs), which token it presents, and over what. `prepareRoute`
 * checks everything that can fail before a claim exists, so a misconfigured client leaves
 * nothing behind; what it returns opens the `RouterConnection`.
 *
 * The kubeconfig's credentials go to the API server only; the router gets a token the user
 * configured or, in dev mode, the router's own token Secret, which travels only through the
 * loopback tunnel.
 */
import type { Agent as HttpAgent } from 'node:http';
import { ConfigurationError } from '../client-errors.js';
import type { RouterConnection } from '../connection.js';
import type { KubeApi } from '../kube/api.js';
import type { Cluster } from '../kube/cluster.js';
import type { LocalPortForward } from '../kube/port-forward.js';
import { allowInsecureFrom, checkPlainHttp } from '../transport/insecure.js';
import { handleAgent, ownAgent } from '../transport/router-agents.js';
import { trustFrom, type RouterTrust } from '../transport/tls.js';
import { DEFAULT_ROUTER_NAMESPACE, ROUTER_TOKEN_KEY, ROUTER_TOKEN_SECRET, findDevRouter } from './dev.js';
import { resolveToken, selectMode, type Mode, type RouteOptions } from './mode.js';
import { ROUTER_TLS_SECRET, tunnelTls } from './tunnel-tls.js';

export type { Mode, RouteOptions };

/** Default wait for a Gateway's address. */
const GATEWAY_TIMEOUT_MS = 180_000;

/** A RouterConnection that also says how it was made. */
export interface Route extends RouterConnection {
  readonly mode: Mode;
  /** How the router is trusted (scheme, CA), for error messages. */
  readonly trust: string;
}

export interface RouteContext {
  /** Kubernetes access; gateway and dev mode need it. */
  readonly kube: { readonly api: KubeApi; readonly cluster: Cluster } | undefined;
  readonly claimNamespace: string;
  readonly env: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal | undefined;
}

class OpenRoute implements Route {
  readonly headers: Readonly<Record<string, string>>;
  readonly agent: HttpAgent;
  readonly trust: string;
  private closing: Promise<void> | undefined;

  constructor(
    readonly mode: Mode,
    readonly origin: URL,
    token: string | undefined,
    trust: RouterTrust,
    private readonly tunnel?: LocalPortForward,
  ) {
    this.headers = token ? { authorization: `Bearer ${token}` } : {};
    // A tunnel is this handle's alone; a router at a fixed address is reached over the process's
    // shared connections (closing this handle ends only its own calls and streams).
    this.agent = tunnel ? ownAgent(origin, trust) : handleAgent(origin, trust);
    this.trust = `${origin.protocol.replace(':', '')}, ${trust.note}`;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.agent.destroy();
      await this.tunnel?.close();
    })();
    return this.closing;
  }
}

/** The origin (scheme, host, port) of `url`; a path or query is refused: the client adds its own. */
function originOf(url: string, what: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(`${what}: not a URL: ${JSON.stringify(url)}`);
  }
  if (parsed.pathname !== '/' || parsed.search || parsed.username || parsed.password) {
    throw new ConfigurationError(`${what}: only scheme, host and port are used; got ${JSON.stringify(url)}`);
  }
  return new URL(parsed.origin);
}

export async function prepareRoute(
  options: RouteOptions,
  context: RouteContext,
): Promise<() => Promise<Route>> {
  const mode = selectMode(options);
  const insecure = allowInsecureFrom(options.allowInsecure, context.env);
  if (mode === 'direct') {
    const origin = originOf(options.routerUrl ?? '', 'routerUrl');
    const token = await resolveToken(options.token, context.env, undefined);
    checkPlainHttp(origin, token, insecure, 'routerUrl');
    const trust = trustFrom(options.caFile, context.env);
    return async () => new OpenRoute(mode, origin, token, trust);
  }
  const kube = context.kube;
  if (!kube) throw new ConfigurationError('routerUrl: gateway and dev mode need Kubernetes credentials');
  if (mode === 'gateway') {
    const scheme = options.gatewayScheme ?? 'https';
    if (scheme !== 'https' && scheme !== 'http') {
      throw new ConfigurationError(`gatewayScheme: must be https or http, got ${JSON.stringify(scheme)}`);
    }
    const namespace = options.gatewayNamespace ?? 'default';
    const name = options.gatewayName ?? '';
    const token = await resolveToken(options.token, context.env, undefined);
    const trust = trustFrom(options.caFile, context.env);
    const address = await kube.cluster.gatewayAddress(
      namespace,
      name,
      options.gatewayTimeoutMs ?? GATEWAY_TIMEOUT_MS,
      context.signal,
    );
    // An IPv6 address goes in brackets in a URL.
    const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
    const origin = originOf(`${scheme}://${host}`, `Gateway ${namespace}/${name} (gatewayScheme ${scheme})`);
    checkPlainHttp(
      origin,
      token,
      insecure,
      `Gateway ${namespace}/${name} (${origin.href}, gatewayScheme ${scheme})`,
    );
    return async () => new OpenRoute(mode, origin, token, trust);
  }
  const router = await findDevRouter(
    kube.api,
    kube.cluster,
    context.claimNamespace,
    options.routerNamespace ?? DEFAULT_ROUTER_NAMESPACE,
    context.signal,
  );
  const ns = router.namespace;
  const speaks = tunnelTls(
    ns,
    await kube.cluster.readSecret(ns, ROUTER_TLS_SECRET, context.signal),
    options.caFile,
    context.env,
  );
  const token = await resolveToken(options.token, context.env, async () => {
    const secret = await kube.cluster.readSecret(ns, ROUTER_TOKEN_SECRET, context.signal);
    return secret.state === 'found' ? secret.data[ROUTER_TOKEN_KEY]?.toString('utf8').trim() : undefined;
  });
  return async () => {
    const tunnel = await router.open();
    // The tunnel listens on 127.0.0.1: even plain HTTP stays on this machine. Over https the
    // router's certificate is verified for 127.0.0.1, the address the client dials.
    const origin = new URL(`${speaks.scheme}://127.0.0.1:${tunnel.port}`);
    return new OpenRoute(mode, origin, token, speaks.trust, tunnel);
  };
}
