/**
 * What every data-plane call needs to reach the router: where it is, how to talk TLS to it, and
 * which headers go with each call. The modes (direct URL, Gateway, dev port-forward) build one;
 * commands, files, processes and ports only use it, so they never know how the route was made.
 */
import type { Agent as HttpAgent } from 'node:http';

/**
 * Default connect limit: a router that accepts no connection, or never finishes the TLS
 * handshake, is given up on after this (and the call resent where retry.ts allows) instead of
 * after the operating system's own minutes-long timeout. Generous for a router across the world.
 */
export const CONNECT_TIMEOUT_MS = 10_000;

/** How data-plane calls reach the router. */
export interface RouterConnection {
  /** The router's origin, e.g. `https://127.0.0.1:41234` (no path, no trailing slash). */
  readonly origin: URL;
  /**
   * The keep-alive agent for node:http / node:https calls and WebSocket dials to `origin`: it
   * carries the TLS settings (the CA to trust, the server name to check), so no call sets its own.
   */
  readonly agent: HttpAgent;
  /** Headers every call sends: `Authorization` when a router token is configured, and nothing else. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * How long one attempt may take to connect (TCP and TLS handshakes) before it counts as
   * unreachable. Default CONNECT_TIMEOUT_MS. Tests shorten it.
   */
  readonly connectTimeoutMs?: number;
  /**
   * How long the router may take to send an answer's headers once a quick call was sent (see
   * HEADERS_TIMEOUT_MS in http/request.ts). Tests shorten it.
   */
  readonly headersTimeoutMs?: number;
  /** Stops what the connection owns (a port-forward, the agent's sockets). Idempotent. */
  close(): Promise<void>;
}

/** The sandbox a call targets. Processes and files live under the Sandbox, ports under the claim. */
export interface SandboxTarget {
  readonly namespace: string;
  readonly claimName: string;
  /** The Sandbox bound to the claim (`status.sandbox.name`). */
  readonly sandboxName: string;
}
