/**
 * Exec round trip of `true`: start frame → started → exit → end of call, on one warm gRPC
 * channel over loopback, against the bundled agent running natively and inside gVisor (runsc,
 * ptrace platform, hostinet in its own netns, reached over a veth pair). The difference between
 * the two is what the sandbox costs per command (mostly fork+exec under ptrace).
 */
import { timedExec } from '@sandbank/testing';
import type { Benchmark } from '../src/index.js';
import { measureNativeAndRunsc, routerLikeClient } from './support/agents.js';

const RUNS = 500;
const WARMUP = 30;

async function roundTrips(address: string, log: (line: string) => void): Promise<number[]> {
  const client = routerLikeClient(address);
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
  run: ({ log }) =>
    measureNativeAndRunsc(async ({ where, address }) => {
      const samples = await roundTrips(address, log);
      switch (where) {
        case 'native':
          return [
            {
              name: 'agent-exec-roundtrip-native',
              unit: 'ms',
              samples,
              target: 3,
              params: {
                runs: RUNS,
                command: 'true',
                transport: 'grpc loopback',
                agent: 'bundle, node ' + process.version,
              },
            },
          ];
        case 'runsc':
          return [
            {
              name: 'agent-exec-roundtrip-runsc',
              unit: 'ms',
              samples,
              params: {
                runs: RUNS,
                command: 'true',
                runsc: 'Debian 0.0~20221219, ptrace, hostinet in own netns',
              },
            },
          ];
      }
    }),
};

export default benchmark;
