/**
 * Real runtime agents for the router's tests, each on its own loopback address (127.0.0.x), as a
 * pod would be on its own IP. The agent is the real one from runtime-image (its public API).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import { ServerCredentials } from '@grpc/grpc-js';
import type { Server } from '@grpc/grpc-js';
import { pino } from 'pino';
// The agent's public entry point (jest has no module mapping for @sandbank/agent yet).
import {
  buildAgentServer,
  buildLegacyApp,
  createAgentDeps,
  loadConfig,
} from '../../../runtime-image/src/index.js';
import type { AgentDeps } from '../../../runtime-image/src/index.js';

export interface TestAgent {
  readonly ip: string;
  readonly dir: string;
  readonly deps: AgentDeps;
  /** gRPC port, or 0 when this "pod" runs only the legacy REST API. */
  readonly grpcPort: number;
  readonly restPort: number;
  readonly restUrl: string;
  close(): Promise<void>;
}

export interface StartAgentOptions {
  readonly ip: string;
  /** 0: any free port; undefined: no gRPC server (a runtime without a Sandbank agent). */
  readonly grpcPort?: number | undefined;
  readonly restPort?: number;
  readonly env?: Record<string, string>;
}

export async function startAgent(opts: StartAgentOptions): Promise<TestAgent> {
  const dir = await mkdtemp(join(tmpdir(), 'sandbank-router-agent-'));
  const config = loadConfig({
    SANDBANK_AGENT_WORKSPACE: dir,
    SANDBANK_AGENT_KILL_GRACE_MS: '200',
    SANDBANK_AGENT_MAX_PROCESSES: '2000',
    ...opts.env,
  });
  const deps = await createAgentDeps(config, { logger: pino({ level: 'silent' }) });
  let server: Server | undefined;
  let grpcPort = 0;
  if (opts.grpcPort !== undefined) {
    const s = buildAgentServer(deps);
    server = s;
    grpcPort = await new Promise<number>((resolve, reject) =>
      s.bindAsync(`${opts.ip}:${opts.grpcPort ?? 0}`, ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
  }
  const rest: HttpServer = buildLegacyApp(deps);
  await new Promise<void>((resolve, reject) => {
    rest.once('error', reject);
    rest.listen(opts.restPort ?? 0, opts.ip, () => resolve());
  });
  const restPort = (rest.address() as AddressInfo).port;
  return {
    ip: opts.ip,
    dir,
    deps,
    grpcPort,
    restPort,
    restUrl: `http://${opts.ip}:${restPort}`,
    async close() {
      deps.runner.killAll();
      rest.closeAllConnections();
      await new Promise<void>((resolve) => rest.close(() => resolve()));
      server?.forceShutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
