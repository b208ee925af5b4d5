/**
 * Shared by the agent benchmarks (`needs: 'nothing'`): the same measurement against the bundled
 * agent running natively and then inside gVisor, so the difference is what the sandbox costs.
 */
import { credentials } from '@grpc/grpc-js';
import { type AgentClient, createAgentClient } from '@sandbank/proto';
import { buildBundle, removeBundle, startAgentProcess, startGvisorAgent } from '@sandbank/testing';
import type { ResultInput } from '../../src/index.js';

export interface AgentUnderTest {
  readonly where: 'native' | 'runsc';
  /** host:port of its gRPC server. */
  readonly address: string;
  /** The processes whose memory is the agent's: the agent alone, or the whole sandbox carrying it. */
  readonly pids: () => number[];
}

/**
 * Runs `measure` against the native agent, then against the agent under runsc, one at a time so
 * the two never compete for the machine's cores; each is stopped before the next starts.
 */
export async function measureNativeAndRunsc(
  measure: (agent: AgentUnderTest) => Promise<readonly ResultInput[]>,
): Promise<ResultInput[]> {
  const bundle = buildBundle();
  const results: ResultInput[] = [];
  try {
    const native = await startAgentProcess(bundle, { SANDBANK_AGENT_WORKSPACE: '/tmp' });
    try {
      const address = `127.0.0.1:${native.grpcPort}`;
      results.push(...(await measure({ where: 'native', address, pids: () => [native.pid] })));
    } finally {
      native.child.kill('SIGKILL');
      await native.exited;
    }
    const sandbox = await startGvisorAgent(bundle);
    try {
      const agent: AgentUnderTest = {
        where: 'runsc',
        address: sandbox.grpcAddress,
        pids: () => sandbox.sandboxPids(),
      };
      results.push(...(await measure(agent)));
    } finally {
      await sandbox.stop();
    }
  } finally {
    removeBundle(bundle);
  }
  return results;
}

/** A gRPC client configured as the router configures its channels: an 8 MiB HTTP/2 receive window instead of 64 KiB. */
export function routerLikeClient(address: string): AgentClient {
  return createAgentClient(address, credentials.createInsecure(), {
    'grpc-node.flow_control_window': 8 * 1024 * 1024,
  });
}
