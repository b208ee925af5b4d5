/**
 * The decisions of a route, pure: which mode the options ask for, and which router token goes
 * with it. Chosen as the Python client (and upstream's) chooses them: `routerUrl` wins, then
 * `gatewayName`, else dev mode.
 */
import { ConfigurationError } from '../client-errors.js';

/** How the router is reached: a URL given (`direct`), a Gateway's address (`gateway`), a port-forward (`dev`). */
export type Mode = 'direct' | 'gateway' | 'dev';

export const TOKEN_ENV = 'SANDBANK_ROUTER_TOKEN';

/** How the client reaches the router, and with what. */
export interface RouteOptions {
  /** Direct mode: the router's URL (`https://…`; `http://` carries a token only to loopback). */
  readonly routerUrl?: string | undefined;
  /** Gateway mode: the Gateway whose `status.addresses[0]` is the router's address. */
  readonly gatewayName?: string | undefined;
  /** Default `default`. */
  readonly gatewayNamespace?: string | undefined;
  /** `https` (default), or `http` for a listener without TLS (a token then needs `allowInsecure`). */
  readonly gatewayScheme?: 'https' | 'http' | undefined;
  /** How long to wait for the Gateway's address. Default 180 s. */
  readonly gatewayTimeoutMs?: number | undefined;
  /** Dev mode: where the router runs when the claim's namespace has none. Default `sandbank-system`. */
  readonly routerNamespace?: string | undefined;
  /** The router token; default `$SANDBANK_ROUTER_TOKEN`, then in dev mode the router's token Secret. */
  readonly token?: string | undefined;
  /** A CA bundle (PEM file) that verifies the router; default `$SANDBANK_CA_FILE`, else Node's CAs. */
  readonly caFile?: string | undefined;
  /** Development only: a token over plain http:// to a host that is not loopback. */
  readonly allowInsecure?: boolean | undefined;
}

export function selectMode(options: RouteOptions): Mode {
  if (options.routerUrl) {
    if (!/^https?:\/\//.test(options.routerUrl)) {
      throw new ConfigurationError(
        `routerUrl: must start with http:// or https://, got ${JSON.stringify(options.routerUrl)}`,
      );
    }
    return 'direct';
  }
  if (options.gatewayName) return 'gateway';
  return 'dev';
}

/**
 * The router credential, first found: the option; `$SANDBANK_ROUTER_TOKEN`; in dev mode the
 * router's own token Secret (`secret`), which only travels through the loopback tunnel. Undefined:
 * no Authorization is sent. Never the kubeconfig's own credentials: those are the user's to hand over.
 */
export async function resolveToken(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv,
  secret: (() => Promise<string | undefined>) | undefined,
): Promise<string | undefined> {
  if (explicit) return explicit;
  const fromEnv = env[TOKEN_ENV];
  if (fromEnv) return fromEnv;
  if (secret) return (await secret()) || undefined;
  return undefined;
}
