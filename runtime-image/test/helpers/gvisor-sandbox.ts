/**
 * The bundled agent under runsc for one test file: started before its tests and stopped, with
 * its bundle removed, after them. Fails, never skips, without runsc (requireRunsc).
 */
import { credentials } from '@grpc/grpc-js';
import { createAgentClient } from '@sandbank/proto';
import type { AgentClient } from '@sandbank/proto';
import {
  type GvisorAgent,
  buildBundle,
  removeBundle,
  requireRunsc,
  startGvisorAgent,
} from '@sandbank/testing';

export interface GvisorSandbox {
  /** The sandboxed agent (addresses, host workspace). */
  readonly agent: GvisorAgent;
  /** A client of its gRPC port. */
  readonly client: AgentClient;
  /** Another client of its gRPC port; the test closes it. */
  newClient(): AgentClient;
}

/** Registers the file's beforeAll/afterAll; read the fields once the tests run. */
export function useGvisorSandbox(): GvisorSandbox {
  let bundle: string | undefined;
  let agent: GvisorAgent | undefined;
  let client: AgentClient | undefined;
  beforeAll(async () => {
    requireRunsc();
    bundle = buildBundle();
    agent = await startGvisorAgent(bundle);
    client = createAgentClient(agent.grpcAddress, credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop();
    if (bundle) removeBundle(bundle);
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the gVisor sandbox is not started (use it inside a test)');
    return value;
  };
  return {
    get agent() {
      return started(agent);
    },
    get client() {
      return started(client);
    },
    newClient: () => createAgentClient(started(agent).grpcAddress, credentials.createInsecure()),
  };
}
