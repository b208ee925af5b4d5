/**
 * In-process agents for tests: a real gRPC server and a real REST server bound to 127.0.0.1:0
 * over a fresh temporary workspace, plus a typed client. Everything is torn down by `close()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, ServerCredentials } from '@grpc/grpc-js';
import type { ClientOptions, Server } from '@grpc/grpc-js';
import { createAgentClient } from '@sandbank/proto';
import type { AgentClient } from '@sandbank/proto';
import { pino } from 'pino';
import { buildAgentServer, buildLegacyApp, createAgentDeps, loadConfig } from '../../src/index.js';
import type { AgentDeps } from '../../src/index.js';

export interface TestAgent {
  /** The workspace root (a real temporary directory). */
  readonly dir: string;
  readonly deps: AgentDeps;
  readonly address: string;
  readonly client: AgentClient;
  /** Base URL of the legacy REST API, without a trailing slash. */
  readonly restUrl: string;
  /** Another client, e.g. with other options. The agent closes it too. */
  newClient(options?: ClientOptions): AgentClient;
  close(): Promise<void>;
}

/**
 * An agent with the given settings. No router is in the loop here, so an agent given no digest
 * runs with the explicit opt-out (its own tests call it directly); one given a digest checks it.
 */
export async function startTestAgent(env: Record<string, string> = {}): Promise<TestAgent> {
  const dir = await mkdtemp(join(tmpdir(), 'sandbank-agent-test-'));
  const config = loadConfig({
    SANDBANK_AGENT_WORKSPACE: dir,
    SANDBANK_AGENT_KILL_GRACE_MS: '200',
    ...(env['SANDBANK_AGENT_TOKEN_SHA256'] ? {} : { SANDBANK_AGENT_INSECURE_NO_AUTH: 'true' }),
    ...env,
  });
  const deps = await createAgentDeps(config, { logger: pino({ level: 'silent' }) });
  const server: Server = buildAgentServer(deps);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  const rest = buildLegacyApp(deps);
  await new Promise<void>((resolve) => rest.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${port}`;
  const clients: AgentClient[] = [];
  const newClient = (options?: ClientOptions): AgentClient => {
    const c = createAgentClient(address, credentials.createInsecure(), options);
    clients.push(c);
    return c;
  };
  const client = newClient();
  return {
    dir,
    deps,
    address,
    client,
    restUrl: `http://127.0.0.1:${(rest.address() as AddressInfo).port}`,
    newClient,
    async close() {
      for (const c of clients) c.close();
      deps.runner.killAll();
      rest.closeAllConnections();
      await new Promise<void>((resolve) => rest.close(() => resolve()));
      server.forceShutdown();
      deps.workspace.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
