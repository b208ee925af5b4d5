/**
 * The keep-alive agents that carry calls to a router, with its TLS trust. A router at a fixed
 * address (direct and gateway mode) is reached over connections shared by the process's handles:
 * an agent per handle paid a new connection (over https a TLS handshake) for the first call of
 * every sandbox. Each handle gets its own view of the shared agent: its calls and streams go over
 * the shared pool, and closing the handle ends what it has under way (calls, WebSocket streams)
 * without touching other handles' connections. A dev-mode tunnel is the handle's own, and so is
 * its agent.
 */
import type { ClientRequest, RequestOptions } from 'node:http';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { RouterTrust } from './tls.js';

/**
 * Sockets kept open to one router (origin and CA) for all handles together. Enough for many
 * concurrent calls and long polls (`wait`); more queue in the agent instead of opening without
 * bound. WebSocket streams leave the pool once upgraded and do not count.
 */
const MAX_SOCKETS = 256;
/** Routers (origin and CA) whose agents are kept; past it the oldest is forgotten (its calls under way finish). */
const MAX_SHARED_AGENTS = 8;

/** Sockets a handle's own agent (dev mode's tunnel) keeps open to the router: its calls and long polls. */
const OWN_MAX_SOCKETS = 32;

const sharedAgents = new Map<string, HttpAgent>();

/** What node:http calls on an agent to place a request (an internal method @types/node leaves out). */
interface RequestPlacer {
  addRequest(request: ClientRequest, options: RequestOptions): void;
}

function agentOptions(origin: URL, trust: RouterTrust, maxSockets = MAX_SOCKETS): AgentOptions {
  return {
    keepAlive: true,
    maxSockets,
    ...(origin.protocol === 'https:' && trust.ca !== undefined ? { ca: trust.ca } : {}),
  };
}

function sharedAgent(origin: URL, trust: RouterTrust): HttpAgent & RequestPlacer {
  const key = JSON.stringify([origin.origin, trust.ca ?? null]);
  let agent = sharedAgents.get(key);
  if (!agent) {
    const options = agentOptions(origin, trust);
    agent = origin.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
    sharedAgents.set(key, agent);
    const oldest = sharedAgents.keys().next().value;
    if (sharedAgents.size > MAX_SHARED_AGENTS && oldest !== undefined) sharedAgents.delete(oldest);
  }
  return agent as HttpAgent & RequestPlacer;
}

/**
 * A handle's agent of the class node:http expects for the scheme (it reads keepAlive, maxSockets
 * and the protocol off the agent a request names): requests are placed on the shared agent, and
 * `destroy()` ends the sockets this handle's requests hold (an upgraded WebSocket's too), as
 * destroying an agent of its own did.
 */
function handleAgentClass(Base: typeof HttpAgent) {
  return class HandleAgent extends Base {
    /** Sockets this handle's requests or streams hold. */
    private readonly held = new Set<Socket>();

    constructor(
      private readonly shared: HttpAgent & RequestPlacer,
      options: AgentOptions,
    ) {
      super(options);
    }

    addRequest(request: ClientRequest, options: RequestOptions): void {
      request.once('socket', (socket: Socket) => {
        this.held.add(socket);
        // Back in the pool ('free': another handle may take it next) or gone: no longer ours. An
        // upgraded socket leaves the pool and is never freed: it stays ours until it closes.
        const release = (): void => {
          this.held.delete(socket);
          socket.off('free', release);
          socket.off('close', release);
        };
        socket.on('free', release);
        socket.on('close', release);
      });
      this.shared.addRequest(request, options);
    }

    override destroy(): void {
      for (const socket of this.held) socket.destroy();
      this.held.clear();
    }
  };
}

const HttpHandleAgent = handleAgentClass(HttpAgent);
const HttpsHandleAgent = handleAgentClass(HttpsAgent);

/** One handle's agent for the router at `origin`, trusted as `trust`, over the process's shared connections. */
export function handleAgent(origin: URL, trust: RouterTrust): HttpAgent {
  const HandleAgent = origin.protocol === 'https:' ? HttpsHandleAgent : HttpHandleAgent;
  return new HandleAgent(sharedAgent(origin, trust), agentOptions(origin, trust));
}

/** An agent of the handle's own for `origin` (a tunnel it runs): TLS with `trust` for https. */
export function ownAgent(origin: URL, trust: RouterTrust): HttpAgent {
  const options = agentOptions(origin, trust, OWN_MAX_SOCKETS);
  return origin.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
}
