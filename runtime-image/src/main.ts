#!/usr/bin/env node
/**
 * The agent process: close the descriptors it inherited (process/inherited-fds.ts), parse the
 * configuration, serve gRPC and the legacy REST API, and drain on SIGTERM. On SIGTERM (or
 * SIGINT): health turns NOT_SERVING, the REST port closes, gRPC stops taking calls and lets
 * running ones finish for up to SANDBANK_AGENT_DRAIN_TIMEOUT_MS; then every remaining process
 * group is killed and the agent exits 0.
 */
import { once } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import { ServerCredentials } from '@grpc/grpc-js';
import type { Server as GrpcServer } from '@grpc/grpc-js';
import { pino } from 'pino';
import { loadConfig } from './config.js';
import type { AgentConfig } from './config.js';
import { createAgentDeps } from './deps.js';
import type { AgentDeps } from './deps.js';
import { closeInheritedDescriptors } from './process/inherited-fds.js';
import { buildLegacyApp } from './rest/app.js';
import { buildAgentServer } from './server.js';

/** After the drain timeout and the kill: how long exit frames may take to reach their callers. */
const FINAL_FLUSH_MS = 1000;

async function main(): Promise<void> {
  // First, before anything of the agent's is open: no sandboxed process may inherit these.
  const inherited = closeInheritedDescriptors();
  let config: AgentConfig;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: (error as Error).message })}\n`);
    process.exit(2);
  }
  const logger = pino({ level: config.logLevel, base: { component: 'sandbank-agent' } });
  if (inherited.closed.length > 0) logger.info({ fds: inherited.closed }, 'closed inherited descriptors');
  if (inherited.unknown.length > 0) {
    logger.warn(
      { fds: inherited.unknown },
      'could not read the flags of inherited descriptors; left open, so processes may inherit them',
    );
  }
  // A bug must not die silently or as plain text: log it as JSON, then exit non-zero (the
  // kubelet restarts the container).
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled rejection');
    process.exit(1);
  });
  if (config.tokenSha256 === undefined) {
    logger.warn(
      'SANDBANK_AGENT_INSECURE_NO_AUTH=true: NO CREDENTIAL IS CHECKED; anyone who can reach this agent runs commands in it. Local development only.',
    );
  } else if (config.insecureNoAuth) {
    logger.warn(
      'SANDBANK_AGENT_INSECURE_NO_AUTH is ignored: a token digest is configured, and it is checked',
    );
  }
  const deps = await createAgentDeps(config, { logger });

  const grpc = buildAgentServer(deps);
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpc.bindAsync(`${config.host}:${config.grpcPort}`, ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
  const rest = buildLegacyApp(deps);
  rest.listen(config.restPort, config.host);
  await once(rest, 'listening');
  const address = rest.address();
  const restPort = typeof address === 'object' && address ? address.port : config.restPort;
  logger.info(
    { grpcPort, restPort, workspace: deps.workspace.root, auth: deps.tokenSha256 ? 'token' : 'none' },
    'agent listening',
  );

  let draining = false;
  const drain = (signal: string): void => {
    if (draining) return;
    draining = true;
    logger.info({ signal, processes: deps.runner.size }, 'draining');
    shutdown(deps, grpc, rest, config.drainTimeoutMs).then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'could not drain; exiting');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => drain('SIGTERM'));
  process.on('SIGINT', () => drain('SIGINT'));
}

async function shutdown(
  deps: AgentDeps,
  grpc: GrpcServer,
  rest: HttpServer,
  drainTimeoutMs: number,
): Promise<void> {
  deps.health.setNotServing();
  rest.close();
  rest.closeIdleConnections();
  const graceful = new Promise<void>((resolve) => grpc.tryShutdown(() => resolve()));
  const timedOut = await Promise.race([graceful.then(() => false), delay(drainTimeoutMs).then(() => true)]);
  if (timedOut) {
    deps.runner.killAll();
    await Promise.race([graceful, delay(FINAL_FLUSH_MS)]);
    grpc.forceShutdown();
  }
  deps.runner.killAll();
  rest.closeAllConnections();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

void main().catch((error: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', msg: 'agent failed to start', err: String(error) })}\n`,
  );
  process.exit(1);
});
