/**
 * The interactive data plane (#19) through the router, on loopback with real processes (the
 * agent from runtime-image, a router built with buildRouterApp), each against the same thing
 * without the router, interleaved in one run:
 * - keystroke echo on a terminal: one byte to a raw-mode `cat` on a pty and back, through the
 *   router's WebSocket exec vs the agent's gRPC Exec;
 * - a background process's output (`head -c 64M /dev/zero`) read through the router's attach
 *   (`follow=true` from offset 0, while it runs and again after it exited) vs the agent's own
 *   AttachProcess, and vs the same bytes streamed by WebSocket exec;
 * - the port route: a Node HTTP server started in the sandbox (as a background process), small
 *   GETs and one large body through `/v1/…/sandboxclaims/sb/ports/{port}/…` vs straight to it.
 *
 * The agent's ring is raised to the output's size, so a reader slower than `head` loses nothing
 * (at the default 8 MiB it would read a stream with gaps); the sandbox's pod may expose any port.
 */
import { Metadata } from '@grpc/grpc-js';
import { Agent, request } from 'node:http';
import { z } from 'zod';
import type { AgentClient } from '@sandbank/proto';
import type { Benchmark, ResultInput } from '../src/index.js';
import { spawnAgent, spawnRouter } from '../../router/scripts/bench-processes.js';
import { routerLikeClient } from './support/agents.js';
import { attachDirect, attachViaRouter, firstLineViaRouter, readMBps } from './support/process-output.js';
import { wsStdoutThroughput } from './support/router-ws.js';
import { directEchoTerminal, routerEchoTerminal } from './support/terminal-echo.js';

const IP = '127.0.0.7';
const KEYSTROKES = 300;
const WARMUP_KEYSTROKES = 30;
const OUTPUT_BYTES = 64 * 1024 * 1024;
const OUTPUT_RUNS = 5;
const SMALL_GETS = 500;
const WARMUP_GETS = 50;
/** A small page or API answer. */
const SMALL_BODY_BYTES = 1024;
const LARGE_BODY_BYTES = 256 * 1024 * 1024;
const LARGE_BODY_RUNS = 5;

/**
 * The sandbox's web server: `/small` answers SMALL_BODY_BYTES, `/bytes/N` streams N zero bytes
 * with backpressure; it prints `PORT n` once it listens on a free port of the sandbox's address.
 */
const SERVER_SOURCE = `
const http = require('node:http');
const small = Buffer.alloc(${SMALL_BODY_BYTES}, 120);
const block = Buffer.alloc(1024 * 1024);
http.createServer((req, res) => {
  if (req.url === '/small') return res.writeHead(200, { 'content-length': small.length }).end(small);
  const m = /^\\/bytes\\/(\\d+)$/.exec(req.url);
  if (!m) return res.writeHead(404).end();
  let left = Number(m[1]);
  res.writeHead(200, { 'content-length': left });
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, block.length);
      left -= n;
      if (!res.write(n === block.length ? block : block.subarray(0, n))) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}).listen(0, '${IP}', function () { console.log('PORT ' + this.address().port); });
`;

const StartedProcess = z.object({ id: z.string().min(1) });
const PortLine = z
  .string()
  .regex(/^PORT \d+$/, 'must be "PORT <n>"')
  .transform((line) => Number(line.slice(5)));

interface Stack {
  readonly log: (line: string) => void;
  /** `http://…/v1/namespaces/default/sandboxes/sb` on the router. */
  readonly sandboxUrl: string;
  readonly wsUrl: string;
  /** `http://…/v1/namespaces/default/sandboxclaims/sb/ports` on the router. */
  readonly portsUrl: string;
  readonly direct: AgentClient;
  /** Metadata for calls straight to the agent: its pod's token, as the router presents it. */
  readonly directMd: () => Metadata;
}

const p50 = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
const list = (xs: readonly number[]): string => xs.map((v) => v.toFixed(0)).join(', ');

async function routerCall(url: string, method: string, body?: unknown): Promise<Response> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.status >= 300) throw new Error(`${method} ${url} answered ${res.status}: ${await res.text()}`);
  return res;
}

/** Starts a background process through the router; returns its URL (`…/processes/{id}`). */
async function startProcess(stack: Stack, command: readonly string[]): Promise<string> {
  const res = await routerCall(`${stack.sandboxUrl}/processes`, 'POST', { command });
  const { id } = StartedProcess.parse(await res.json());
  return `${stack.sandboxUrl}/processes/${id}`;
}

/** A GET read to its end: the body's size; rejects unless the answer is 200. */
function get(url: string, agent: Agent): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(bytes)
          : reject(new Error(`GET ${url} answered ${String(res.statusCode)}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await f();
  return performance.now() - started;
}

async function keystrokeEcho(stack: Stack): Promise<ResultInput[]> {
  const viaRouter = await routerEchoTerminal(stack.wsUrl);
  const direct = await directEchoTerminal(stack.direct, stack.directMd());
  try {
    const routerMs: number[] = [];
    const directMs: number[] = [];
    for (let i = 0; i < WARMUP_KEYSTROKES + KEYSTROKES; i++) {
      const key = 97 + (i % 26);
      const d = await direct.roundTrip(key);
      const r = await viaRouter.roundTrip(key);
      if (i < WARMUP_KEYSTROKES) continue;
      directMs.push(d);
      routerMs.push(r);
    }
    stack.log(
      `keystroke echo p50: agent gRPC ${p50(directMs).toFixed(2)} ms, router WebSocket ${p50(routerMs).toFixed(2)} ms`,
    );
    const params = { program: 'stty raw -echo; cat', keystrokes: KEYSTROKES, interleaved: true };
    return [
      {
        name: 'pty-echo-direct-agent',
        unit: 'ms',
        samples: directMs,
        params: { ...params, transport: 'agent gRPC Exec' },
      },
      {
        name: 'pty-echo-via-router',
        unit: 'ms',
        samples: routerMs,
        params: {
          ...params,
          transport: 'router WebSocket exec',
          addedP50Ms: Number((p50(routerMs) - p50(directMs)).toFixed(3)),
        },
      },
    ];
  } finally {
    viaRouter.close();
    direct.close();
  }
}

async function backgroundOutput(stack: Stack): Promise<ResultInput[]> {
  const command = ['head', '-c', String(OUTPUT_BYTES), '/dev/zero'];
  const http = new Agent({ keepAlive: true, maxSockets: 1 });
  const live: number[] = [];
  const replay: number[] = [];
  const liveDirect: number[] = [];
  const replayDirect: number[] = [];
  const exec: number[] = [];
  try {
    // One round first, not recorded: the first 64 MiB through a fresh process run colder.
    for (let i = -1; i < OUTPUT_RUNS; i++) {
      const record = (samples: number[], value: number): void => {
        if (i >= 0) samples.push(value);
      };
      const viaRouter = await startProcess(stack, command);
      record(live, readMBps(await attachViaRouter(viaRouter, http, OUTPUT_BYTES)));
      record(replay, readMBps(await attachViaRouter(viaRouter, http, OUTPUT_BYTES)));
      await routerCall(viaRouter, 'DELETE');

      const straight = await startProcess(stack, command);
      const id = straight.slice(straight.lastIndexOf('/') + 1);
      record(liveDirect, readMBps(await attachDirect(stack.direct, stack.directMd(), id, OUTPUT_BYTES)));
      record(replayDirect, readMBps(await attachDirect(stack.direct, stack.directMd(), id, OUTPUT_BYTES)));
      await routerCall(straight, 'DELETE');

      record(exec, await wsStdoutThroughput(stack.wsUrl, OUTPUT_BYTES));
    }
  } finally {
    http.destroy();
  }
  stack.log(
    `64 MiB of background output, MB/s: router attach live ${list(live)}, replay ${list(replay)}; agent AttachProcess live ${list(liveDirect)}, replay ${list(replayDirect)}; router WebSocket exec ${list(exec)}`,
  );
  const params = { bytesPerRun: OUTPUT_BYTES, command: command.join(' '), ringBytes: OUTPUT_BYTES };
  const row = (name: string, samples: number[], how: string): ResultInput => ({
    name,
    unit: 'MB/s',
    samples,
    higherIsBetter: true,
    params: { ...params, how },
  });
  return [
    row('process-attach-live-via-router', live, 'GET …/attach?fromOffset=0&follow=true right after start'),
    row(
      'process-attach-replay-via-router',
      replay,
      'the same after the process exited (all 64 MiB retained)',
    ),
    row(
      'process-attach-live-direct-agent',
      liveDirect,
      'agent gRPC AttachProcess, from 0, follow, right after start',
    ),
    row(
      'process-attach-replay-direct-agent',
      replayDirect,
      'agent gRPC AttachProcess after the process exited',
    ),
    row('process-exec-ws-via-router', exec, 'the same command by WebSocket exec, stdout streamed'),
  ];
}

async function portRoute(stack: Stack): Promise<ResultInput[]> {
  const server = await startProcess(stack, [process.execPath, '-e', SERVER_SOURCE]);
  const lineAgent = new Agent();
  const directAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const routerAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const port = PortLine.parse(await firstLineViaRouter(server, lineAgent));
    const directUrl = `http://${IP}:${port}`;
    const routeUrl = `${stack.portsUrl}/${port}`;

    const directMs: number[] = [];
    const routerMs: number[] = [];
    for (let i = 0; i < WARMUP_GETS + SMALL_GETS; i++) {
      const d = await timed(() => get(`${directUrl}/small`, directAgent));
      const r = await timed(() => get(`${routeUrl}/small`, routerAgent));
      if (i < WARMUP_GETS) continue;
      directMs.push(d);
      routerMs.push(r);
    }
    stack.log(
      `GET /small p50: direct ${p50(directMs).toFixed(2)} ms, port route ${p50(routerMs).toFixed(2)} ms`,
    );

    const directMbps: number[] = [];
    const routerMbps: number[] = [];
    const large = async (url: string, agent: Agent): Promise<number> => {
      let bytes = 0;
      const ms = await timed(async () => (bytes = await get(`${url}/bytes/${LARGE_BODY_BYTES}`, agent)));
      if (bytes !== LARGE_BODY_BYTES)
        throw new Error(`GET ${url} gave ${bytes} of ${LARGE_BODY_BYTES} bytes`);
      return mbps(bytes, ms);
    };
    await large(directUrl, directAgent);
    await large(routeUrl, routerAgent);
    for (let i = 0; i < LARGE_BODY_RUNS; i++) {
      directMbps.push(await large(directUrl, directAgent));
      routerMbps.push(await large(routeUrl, routerAgent));
    }
    stack.log(`256 MiB body, MB/s: direct ${list(directMbps)}, port route ${list(routerMbps)}`);

    const small = { bodyBytes: SMALL_BODY_BYTES, requests: SMALL_GETS, keepAlive: true, interleaved: true };
    const body = { bodyBytes: LARGE_BODY_BYTES, keepAlive: true, interleaved: true };
    return [
      { name: 'port-route-get-direct', unit: 'ms', samples: directMs, params: small },
      {
        name: 'port-route-get-via-router',
        unit: 'ms',
        samples: routerMs,
        params: { ...small, addedP50Ms: Number((p50(routerMs) - p50(directMs)).toFixed(3)) },
      },
      {
        name: 'port-route-body-direct',
        unit: 'MB/s',
        samples: directMbps,
        higherIsBetter: true,
        params: body,
      },
      {
        name: 'port-route-body-via-router',
        unit: 'MB/s',
        samples: routerMbps,
        higherIsBetter: true,
        params: body,
      },
    ];
  } finally {
    lineAgent.destroy();
    directAgent.destroy();
    routerAgent.destroy();
    await routerCall(`${server}/signal`, 'POST', { signal: 'SIGKILL' });
  }
}

const benchmark: Benchmark = {
  title: 'router data plane: terminal echo, background output, port route (each vs direct)',
  needs: 'nothing',
  async run({ log }) {
    const agent = await spawnAgent(IP, {
      SANDBANK_AGENT_PROCESS_BUFFER_BYTES: String(OUTPUT_BYTES),
      // the two rings of one round and the server's, with room for an evicted one's
      SANDBANK_AGENT_PROCESS_BUFFER_TOTAL_BYTES: String(4 * OUTPUT_BYTES),
    });
    const router = await spawnRouter(IP, agent.info, { anyPort: true });
    const base = `127.0.0.1:${router.info.httpPort}/v1/namespaces/default`;
    const stack: Stack = {
      log,
      sandboxUrl: `http://${base}/sandboxes/sb`,
      wsUrl: `ws://${base}/sandboxes/sb/exec`,
      portsUrl: `http://${base}/sandboxclaims/sb/ports`,
      direct: routerLikeClient(`${IP}:${agent.info.grpcPort}`),
      directMd: () => {
        const md = new Metadata();
        md.set('authorization', `Bearer ${agent.info.token}`);
        return md;
      },
    };
    try {
      return [
        ...(await keystrokeEcho(stack)),
        ...(await backgroundOutput(stack)),
        ...(await portRoute(stack)),
      ];
    } finally {
      stack.direct.close();
      await router.stop();
      await agent.stop();
    }
  },
};

export default benchmark;
