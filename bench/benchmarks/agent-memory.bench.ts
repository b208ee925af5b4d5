/**
 * Idle memory: the agent process alone (native), and the whole gVisor sandbox that carries it
 * (sentry + gofer + ptrace stubs, where the agent's own pages live), each sampled while idle
 * after one warm-up Exec. RSS is what the targets name; PSS (shared pages split among
 * the processes mapping them, so the runsc binary is not counted twice) is recorded beside it.
 * `runsc run` itself (the equivalent of the runtime shim) is not part of the sandbox.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials } from '@grpc/grpc-js';
import { createAgentClient } from '@sandbank/proto';
import { memoryMiB, timedExec } from '@sandbank/testing';
import type { Benchmark } from '../src/index.js';
import { type AgentUnderTest, measureNativeAndRunsc } from './support/agents.js';

const SAMPLES = 20;
const SETTLE_MS = 2000;

async function idleSamples({ address, pids }: AgentUnderTest): Promise<{ rss: number[]; pss: number[] }> {
  const client = createAgentClient(address, credentials.createInsecure());
  try {
    await timedExec(client, ['true']);
  } finally {
    client.close();
  }
  await sleep(SETTLE_MS);
  const rss: number[] = [];
  const pss: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const m = memoryMiB(pids());
    rss.push(m.rss);
    pss.push(m.pss);
    await sleep(100);
  }
  return { rss, pss };
}

const benchmark: Benchmark = {
  title: 'agent: idle memory, native agent and whole runsc sandbox',
  needs: 'nothing',
  run: ({ log }) =>
    measureNativeAndRunsc(async (agent) => {
      const m = await idleSamples(agent);
      switch (agent.where) {
        case 'native':
          return [
            {
              name: 'agent-idle-rss-native',
              unit: 'MiB',
              samples: m.rss,
              target: 45,
              params: { what: 'agent process VmRSS' },
            },
            {
              name: 'agent-idle-pss-native',
              unit: 'MiB',
              samples: m.pss,
              params: { what: 'agent process Pss' },
            },
          ];
        case 'runsc': {
          log(`sandbox processes: ${agent.pids().length}`);
          const params = {
            what: 'sentry + gofer + stubs (agent inside)',
            runsc: 'Debian 0.0~20221219, ptrace, hostinet',
          };
          return [
            { name: 'agent-idle-rss-runsc-sandbox', unit: 'MiB', samples: m.rss, target: 64, params },
            { name: 'agent-idle-pss-runsc-sandbox', unit: 'MiB', samples: m.pss, params },
          ];
        }
      }
    }),
};

export default benchmark;
