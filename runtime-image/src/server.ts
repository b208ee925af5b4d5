/**
 * `buildAgentServer(deps)`: the gRPC server with ExecService, FileService, ProcessService and Health
 * registered. It never listens; `main.ts` (or a test) binds it.
 */
import { Server } from '@grpc/grpc-js';
import type { ServerOptions } from '@grpc/grpc-js';
import { FileServiceDefinition, HealthServiceDefinition } from '@sandbank/proto';
import type { AgentDeps } from './deps.js';
import { tokenInterceptor } from './services/auth.js';
import { fastExecServiceDefinition } from './services/exec-codec.js';
import { execHandler } from './services/exec.js';
import { fileHandlers } from './services/files.js';
import { healthHandlers } from './services/health.js';
import { fastProcessServiceDefinition } from './services/process-codec.js';
import { processHandlers } from './services/processes.js';
import { runHandler } from './services/run.js';

/**
 * Keepalive: the router holds long-lived channels to each agent, and an Exec stream may be
 * silent for minutes. Accepting client pings every 10 s (grpc-js refuses pings more often than
 * `permit_without_calls`/`min_time` allow, and then drops the connection with ENHANCE_YOUR_CALM)
 * lets the router detect a dead pod in seconds.
 */
const SERVER_OPTIONS: ServerOptions = {
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 10_000,
};

export function buildAgentServer(deps: AgentDeps, options: ServerOptions = {}): Server {
  const server = new Server({
    ...SERVER_OPTIONS,
    ...options,
    ...(deps.tokenSha256 ? { interceptors: [tokenInterceptor(deps.tokenSha256)] } : {}),
  });
  server.addService(fastExecServiceDefinition(), { exec: execHandler(deps), run: runHandler(deps) });
  server.addService(FileServiceDefinition, fileHandlers(deps));
  server.addService(fastProcessServiceDefinition(), processHandlers(deps));
  server.addService(HealthServiceDefinition, healthHandlers(deps.health));
  return server;
}
