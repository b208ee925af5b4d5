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
import {
  buildBundle,
  memoryMiB,
  removeBundle,
  startAgentProcess,
  startGvisorAgent,
  timedExec,
} from '@sandbank/testing';
import type { Benchmark, ResultInput } from '../src/index.js';

const SAMPLES = 20;
const SETTLE_MS = 2000;

async function idleSamples(address: string, pids: () => number[]): Promise<{ rss: number[]; pss: number[] }> {
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
  async run({ log }) {
    const bundle = buildBundle();
    const results: ResultInput[] = [];
    const native = await startAgentProcess(bundle, { SANDBANK_AGENT_WORKSPACE: '/tmp' });
    try {
      const m = await idleSamples(`127.0.0.1:${native.grpcPort}`, () => [native.pid]);
      results.push({
        name: 'agent-idle-rss-native',
        unit: 'MiB',
        samples: m.rss,
        target: 45,
        params: { what: 'agent process VmRSS' },
      });
      results.push({
        name: 'agent-idle-pss-native',
        unit: 'MiB',
        samples: m.pss,
        params: { what: 'agent process Pss' },
      });
    } finally {
      native.child.kill('SIGKILL');
      await native.exited;
    }
    const sandbox = await startGvisorAgent(bundle);
    try {
      const m = await idleSamples(sandbox.grpcAddress, () => sandbox.sandboxPids());
      log(`sandbox processes: ${sandbox.sandboxPids().length}`);
      const params = {
        what: 'sentry + gofer + stubs (agent inside)',
        runsc: 'Debian 0.0~20221219, ptrace, hostinet',
      };
      results.push({ name: 'agent-idle-rss-runsc-sandbox', unit: 'MiB', samples: m.rss, target: 64, params });
      results.push({ name: 'agent-idle-pss-runsc-sandbox', unit: 'MiB', samples: m.pss, params });
    } finally {
      await sandbox.stop();
      removeBundle(bundle);
    }
    return results;
  },
};

export default benchmark;
