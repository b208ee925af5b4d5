/**
 * Exec round trip of `true`: start frame → started → exit → end of call, on one warm gRPC
 * channel over loopback, against the bundled agent running natively and inside gVisor (runsc,
 * ptrace platform, hostinet in its own netns, reached over a veth pair). The difference between
 * the two is what the sandbox costs per command (mostly fork+exec under ptrace).
 */
import { credentials } from '@grpc/grpc-js';
import { createAgentClient } from '@sandbank/proto';
import { buildBundle, removeBundle, startAgentProcess, startGvisorAgent, timedExec } from '@sandbank/testing';
import type { Benchmark, ResultInput } from '../src/index.js';

const RUNS = 500;
const WARMUP = 30;

async function roundTrips(address: string, log: (line: string) => void): Promise<number[]> {
  // As the router configures its channels: an 8 MiB HTTP/2 receive window instead of 64 KiB.
  const client = createAgentClient(address, credentials.createInsecure(), {
    'grpc-node.flow_control_window': 8 * 1024 * 1024,
  });
  try {
    for (let i = 0; i < WARMUP; i++) await timedExec(client, ['true']);
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = await timedExec(client, ['true']);
      if (t.exitCode !== 0) throw new Error(`true exited with ${t.exitCode}`);
      samples.push(t.ms);
      if ((i + 1) % 100 === 0) log(`${address}: ${i + 1}/${RUNS}`);
    }
    return samples;
  } finally {
    client.close();
  }
}

const benchmark: Benchmark = {
  title: 'agent: Exec round trip of `true`, native and under runsc',
  needs: 'nothing',
  async run({ log }) {
    const bundle = buildBundle();
    const results: ResultInput[] = [];
    const native = await startAgentProcess(bundle, { SANDBANK_AGENT_WORKSPACE: '/tmp' });
    try {
      results.push({
        name: 'agent-exec-roundtrip-native',
        unit: 'ms',
        samples: await roundTrips(`127.0.0.1:${native.grpcPort}`, log),
        target: 3,
        params: {
          runs: RUNS,
          command: 'true',
          transport: 'grpc loopback',
          agent: 'bundle, node ' + process.version,
        },
      });
    } finally {
      native.child.kill('SIGKILL');
      await native.exited;
    }
    const sandbox = await startGvisorAgent(bundle);
    try {
      results.push({
        name: 'agent-exec-roundtrip-runsc',
        unit: 'ms',
        samples: await roundTrips(sandbox.grpcAddress, log),
        params: { runs: RUNS, command: 'true', runsc: 'Debian 0.0~20221219, ptrace, hostinet in own netns' },
      });
    } finally {
      await sandbox.stop();
      removeBundle(bundle);
    }
    return results;
  },
};

export default benchmark;
