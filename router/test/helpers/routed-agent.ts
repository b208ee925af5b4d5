/**
 * A real agent on its own loopback address behind a router that resolves the sandbox
 * `default/sb` to it, and a client of the router's gRPC passthrough: every surface of the router
 * with a real agent behind it, for one test file.
 */
import { credentials, Metadata } from '@grpc/grpc-js';
import { createAgentClient } from '@sandbank/proto';
import type { AgentClient } from '@sandbank/proto';
import { startAgent } from './agent.js';
import type { TestAgent } from './agent.js';
import { startRouter } from './router.js';
import type { TestRouter } from './router.js';
import { staticLookup } from './static-lookup.js';

export interface RoutedAgent {
  readonly agent: TestAgent;
  readonly router: TestRouter;
  /** A grpc-js client of the router's passthrough (name the sandbox with `sandboxMetadata`). */
  readonly passthrough: AgentClient;
  close(): Promise<void>;
}

export async function startRoutedAgent(ip: string): Promise<RoutedAgent> {
  // The agent checks its pod's credential, and the router presents it, as in a cluster.
  const agent = await startAgent({ ip, grpcPort: 0, credential: { namespace: 'default' } });
  const router = await startRouter({
    lookup: staticLookup([{ namespace: 'default', name: 'sb', ip, annotation: agent.annotation }]),
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
  });
  const passthrough = createAgentClient(router.grpcAddress, credentials.createInsecure());
  return {
    agent,
    router,
    passthrough,
    async close() {
      passthrough.close();
      await router.close();
      await agent.close();
    },
  };
}

/** gRPC metadata naming the sandbox a passthrough call is for (`sb`, the routed agent's). */
export function sandboxMetadata(name = 'sb'): Metadata {
  const md = new Metadata();
  md.set('x-sandbox-id', name);
  return md;
}
