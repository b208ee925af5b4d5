/**
 * Exec stdout throughput: `head -c 1G /dev/zero` streamed to a client that reads as fast as it
 * can, native and inside gVisor. MB/s = 10^6 bytes per second of wall time from the start frame
 * to the end of the call (spawn included; it is noise at this size).
 */
import { credentials } from '@grpc/grpc-js';
import { createAgentClient } from '@sandbank/proto';
import { buildBundle, removeBundle, startAgentProcess, startGvisorAgent, timedExec } from '@sandbank/testing';
import type { Benchmark, ResultInput } from '../src/index.js';

const BYTES = 1024 ** 3;

async function throughput(address: string, runs: number, log: (line: string) => void): Promise<number[]> {
  // As the router configures its channels: an 8 MiB HTTP/2 receive window instead of 64 KiB.
  const client = createAgentClient(address, credentials.createInsecure(), {
    'grpc-node.flow_control_window': 8 * 1024 * 1024,
  });
  try {
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = await timedExec(client, ['head', '-c', String(BYTES), '/dev/zero']);
      if (t.bytes !== BYTES) throw new Error(`received ${t.bytes} of ${BYTES} bytes`);
      const rate = BYTES / 1e6 / (t.ms / 1000);
      samples.push(rate);
      log(`${address}: run ${i + 1}/${runs}: ${rate.toFixed(0)} MB/s`);
    }
    return samples;
  } finally {
    client.close();
  }
}

const benchmark: Benchmark = {
  title: 'agent: Exec stdout throughput (1 GiB), native and under runsc',
  needs: 'nothing',
  async run({ log }) {
    const bundle = buildBundle();
    const results: ResultInput[] = [];
    const native = await startAgentProcess(bundle, { SANDBANK_AGENT_WORKSPACE: '/tmp' });
    try {
      results.push({
        name: 'agent-stdout-throughput-native',
        unit: 'MB/s',
        samples: await throughput(`127.0.0.1:${native.grpcPort}`, 5, log),
        target: 500,
        higherIsBetter: true,
        params: { bytes: BYTES, command: 'head -c 1G /dev/zero', transport: 'grpc loopback' },
      });
    } finally {
      native.child.kill('SIGKILL');
      await native.exited;
    }
    const sandbox = await startGvisorAgent(bundle);
    try {
      results.push({
        name: 'agent-stdout-throughput-runsc',
        unit: 'MB/s',
        samples: await throughput(sandbox.grpcAddress, 3, log),
        higherIsBetter: true,
        params: { bytes: BYTES, runsc: 'Debian 0.0~20221219, ptrace, hostinet in own netns, veth' },
      });
    } finally {
      await sandbox.stop();
      removeBundle(bundle);
    }
    return results;
  },
};

export default benchmark;
