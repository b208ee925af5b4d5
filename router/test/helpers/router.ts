/**
 * A router on 127.0.0.1:0 (HTTP and gRPC), built with buildRouterApp, for one test suite; it
 * holds the tests' agent key unless `deps` says otherwise.
 */
import type { AddressInfo } from 'node:net';
import { ServerCredentials } from '@grpc/grpc-js';
import { buildRouterApp, createLogger, noAuthenticator } from '../../src/index.js';
import type { RouterApp, RouterDeps } from '../../src/index.js';
import { TEST_AGENT_KEY } from './agent-key.js';

export interface TestRouter {
  readonly app: RouterApp;
  readonly url: string;
  readonly wsUrl: string;
  readonly grpcAddress: string;
  close(): Promise<void>;
}

export async function startRouter(
  deps: Partial<RouterDeps> & Pick<RouterDeps, 'lookup'>,
): Promise<TestRouter> {
  const app = buildRouterApp({
    auth: noAuthenticator(),
    log: createLogger('silent'),
    connect: { timeoutMs: 1_000, retryDelaysMs: [50] },
    // The key test agents' credentials derive from (helpers/agent.ts), as a router mounts it.
    agentKey: TEST_AGENT_KEY,
    ...deps,
  });
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  const port = (app.server.address() as AddressInfo).port;
  const grpcPort = await new Promise<number>((resolve, reject) =>
    app.grpcServer.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    close: () => app.close(),
  };
}
