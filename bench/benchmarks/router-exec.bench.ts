/**
 * The router's overhead and capacity, all on loopback with real processes (the agent from
 * runtime-image, a router built with buildRouterApp):
 * - exec round trip of `true`: straight to the agent (gRPC Run) vs through the router (POST
 *   /v1/…/exec, and gRPC passthrough), same run, interleaved; target ≤ 1 ms added at p50;
 * - WebSocket stdout throughput (`head -c` through Exec → router → WS); target ≥ 300 MB/s;
 * - router memory per idle WebSocket exec session (1,000 sessions, each a `cat` waiting on
 *   stdin); target ≤ 200 KB.
 */
import { credentials, Metadata } from '@grpc/grpc-js';
import { createAgentClient } from '@sandbank/proto';
import type { AgentClient, RunResponse } from '@sandbank/proto';
import type WebSocket from 'ws';
import type { Benchmark, ResultInput } from '../src/index.js';
import { childMemory, spawnAgent, spawnRouter } from '../../router/scripts/bench-processes.js';
import { openExecSocket, wsStdoutThroughput } from './support/router-ws.js';

const IP = '127.0.0.7';
const ROUND_TRIPS = 500;
const THROUGHPUT_RUNS = 5;
const THROUGHPUT_BYTES = 512 * 1024 * 1024;
const IDLE_SESSIONS = 1000;

function run(client: AgentClient, md: Metadata): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    client.run(
      { process: { command: { case: 'argv', value: { args: ['true'] } } } },
      md,
      (e: Error | null, r?: RunResponse) => (e || !r ? reject(e ?? new Error('no reply')) : resolve()),
    ),
  );
}

/** The same stream straight from the agent over gRPC: the ceiling the router works under. */
function streamDirect(client: AgentClient, md: Metadata, bytes: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const call = client.exec(md);
    let received = 0;
    let started = 0;
    call.on('data', (m: { event: { case: string | undefined; value?: unknown } }) => {
      if (m.event.case !== 'stdout' || !(m.event.value instanceof Uint8Array)) return;
      if (started === 0) started = performance.now();
      received += m.event.value.length;
    });
    call.on('error', reject);
    call.on('end', () =>
      received === bytes
        ? resolve(bytes / 1e6 / ((performance.now() - started) / 1000))
        : reject(new Error(`received ${received} of ${bytes} bytes`)),
    );
    call.write({
      frame: {
        case: 'start',
        value: {
          process: { command: { case: 'argv', value: { args: ['head', '-c', String(bytes), '/dev/zero'] } } },
        },
      },
    });
    call.end();
  });
}

const benchmark: Benchmark = {
  title: 'router: exec round trip vs direct, WebSocket throughput, idle session memory',
  needs: 'nothing',
  async run({ log }) {
    const agent = await spawnAgent(IP);
    const router = await spawnRouter(IP, agent.info);
    const direct = createAgentClient(`${IP}:${agent.info.grpcPort}`, credentials.createInsecure());
    const passthrough = createAgentClient(`127.0.0.1:${router.info.grpcPort}`, credentials.createInsecure());
    const base = `http://127.0.0.1:${router.info.httpPort}/v1/namespaces/default/sandboxes/sb`;
    const wsUrl = `ws://127.0.0.1:${router.info.httpPort}/v1/namespaces/default/sandboxes/sb/exec`;
    const md = new Metadata();
    md.set('x-sandbox-id', 'sb');
    // Straight to the agent, the call carries the pod's token as the router's calls do.
    const directMd = (): Metadata => {
      const m = new Metadata();
      m.set('authorization', `Bearer ${agent.info.token}`);
      return m;
    };
    const results: ResultInput[] = [];
    try {
      const viaHttp = async (): Promise<void> => {
        const res = await fetch(`${base}/exec`, { method: 'POST', body: '{"command":["true"]}' });
        if (res.status !== 200) throw new Error(`router answered ${res.status}`);
        await res.arrayBuffer();
      };
      const time = async (f: () => Promise<void>): Promise<number> => {
        const t = performance.now();
        await f();
        return performance.now() - t;
      };
      for (let i = 0; i < 50; i++) {
        await run(direct, directMd());
        await viaHttp();
        await run(passthrough, md);
      }
      const directMs: number[] = [];
      const httpMs: number[] = [];
      const grpcMs: number[] = [];
      for (let i = 0; i < ROUND_TRIPS; i++) {
        directMs.push(await time(() => run(direct, directMd())));
        httpMs.push(await time(viaHttp));
        grpcMs.push(await time(() => run(passthrough, md)));
      }
      const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
      const added = httpMs.map((v, i) => v - (directMs[i] ?? 0));
      const ratio = p50(httpMs) / p50(directMs);
      log(
        `exec true p50: direct ${p50(directMs).toFixed(2)} ms, router HTTP ${p50(httpMs).toFixed(2)} ms (×${ratio.toFixed(2)}), router gRPC ${p50(grpcMs).toFixed(2)} ms`,
      );
      const params = { command: 'true', samples: ROUND_TRIPS, interleaved: true };
      results.push({ name: 'router-exec-direct-agent', unit: 'ms', samples: directMs, params });
      results.push({
        name: 'router-exec-via-router-http',
        unit: 'ms',
        samples: httpMs,
        params: { ...params, ratioP50: Number(ratio.toFixed(3)) },
      });
      results.push({ name: 'router-exec-via-router-grpc', unit: 'ms', samples: grpcMs, params });
      results.push({
        name: 'router-exec-added-latency',
        unit: 'ms',
        samples: added,
        target: 1,
        params: { ...params, ratioP50: Number(ratio.toFixed(3)) },
      });

      const mbps: number[] = [];
      const directMbps: number[] = [];
      for (let i = 0; i < THROUGHPUT_RUNS; i++) {
        directMbps.push(await streamDirect(direct, directMd(), THROUGHPUT_BYTES));
        mbps.push(await wsStdoutThroughput(wsUrl, THROUGHPUT_BYTES));
      }
      log(
        `stdout: agent gRPC ${directMbps.map((v) => v.toFixed(0)).join(', ')} MB/s; via router WebSocket ${mbps.map((v) => v.toFixed(0)).join(', ')} MB/s`,
      );
      results.push({
        name: 'router-exec-stdout-throughput-direct',
        unit: 'MB/s',
        samples: directMbps,
        higherIsBetter: true,
        params: { bytesPerRun: THROUGHPUT_BYTES },
      });
      results.push({
        name: 'router-ws-stdout-throughput',
        unit: 'MB/s',
        samples: mbps,
        target: 300,
        higherIsBetter: true,
        params: { bytesPerRun: THROUGHPUT_BYTES },
      });

      const before = await childMemory(router);
      const sessions: WebSocket[] = [];
      for (let i = 0; i < IDLE_SESSIONS; i++) {
        const ws = await openExecSocket(wsUrl);
        const started = new Promise<void>((resolve) => ws.once('message', () => resolve()));
        ws.send(JSON.stringify({ type: 'start', command: ['cat'], stdin: true }));
        await started;
        sessions.push(ws);
        if ((i + 1) % 250 === 0) log(`${i + 1}/${IDLE_SESSIONS} idle sessions`);
      }
      const after = await childMemory(router);
      const perSessionHeap = (after.heap - before.heap) / IDLE_SESSIONS / 1024;
      const perSessionRss = (after.rss - before.rss) / IDLE_SESSIONS / 1024;
      log(
        `idle sessions: ${perSessionHeap.toFixed(1)} KB heap, ${perSessionRss.toFixed(1)} KB RSS per session`,
      );
      results.push({
        name: 'router-ws-idle-session-memory',
        unit: 'KB',
        samples: [perSessionHeap],
        target: 200,
        params: {
          sessions: IDLE_SESSIONS,
          measure: 'heap+external after GC',
          rssKBPerSession: Number(perSessionRss.toFixed(1)),
        },
      });
      for (const ws of sessions) ws.terminate();
    } finally {
      direct.close();
      passthrough.close();
      await router.stop();
      await agent.stop();
    }
    return results;
  },
};

export default benchmark;
