/**
 * Exec stdout throughput: `head -c 1G /dev/zero` streamed to a client that reads as fast as it
 * can, native and inside gVisor. MB/s = 10^6 bytes per second of wall time from the start frame
 * to the end of the call (spawn included; it is noise at this size).
 */
import { timedExec } from '@sandbank/testing';
import type { Benchmark } from '../src/index.js';
import { measureNativeAndRunsc, routerLikeClient } from './support/agents.js';

const BYTES = 1024 ** 3;

async function throughput(address: string, runs: number, log: (line: string) => void): Promise<number[]> {
  const client = routerLikeClient(address);
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
  run: ({ log }) =>
    measureNativeAndRunsc(async ({ where, address }) => {
      switch (where) {
        case 'native':
          return [
            {
              name: 'agent-stdout-throughput-native',
              unit: 'MB/s',
              samples: await throughput(address, 5, log),
              target: 500,
              higherIsBetter: true,
              params: { bytes: BYTES, command: 'head -c 1G /dev/zero', transport: 'grpc loopback' },
            },
          ];
        case 'runsc':
          return [
            {
              name: 'agent-stdout-throughput-runsc',
              unit: 'MB/s',
              samples: await throughput(address, 3, log),
              higherIsBetter: true,
              params: { bytes: BYTES, runsc: 'Debian 0.0~20221219, ptrace, hostinet in own netns, veth' },
            },
          ];
      }
    }),
};

export default benchmark;
