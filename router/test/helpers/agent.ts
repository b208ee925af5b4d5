/**
 * Real runtime agents for the router's tests, each on its own loopback address (127.0.0.x), as a
 * pod would be on its own IP. The agent is the real one from runtime-image (its public API).
 *
 * An agent started with `credential` checks a pod credential as the controller sets it up: the
 * digest of the token derived from TEST_AGENT_KEY (the key test routers get by default), the
 * namespace and a fresh nonce; the pod that routes to it must carry `agent.annotation`. Without
 * `credential` (or a digest in `env`) it runs with the explicit opt-out, as an agent made by no
 * controller, and takes calls that carry no credential.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import { ServerCredentials } from '@grpc/grpc-js';
import type { Server } from '@grpc/grpc-js';
import { agentToken, agentTokenDigest, credentialAnnotation } from '@sandbank/kube';
import { pino } from 'pino';
import { TEST_AGENT_KEY } from './agent-key.js';
// The agent's public entry point (jest has no module mapping for @sandbank/agent yet).
import {
  buildAgentServer,
  buildLegacyApp,
  createAgentDeps,
  loadConfig,
} from '../../../runtime-image/src/index.js';
import type { AgentDeps } from '../../../runtime-image/src/index.js';

export { TEST_AGENT_KEY };

export interface TestAgent {
  readonly ip: string;
  /** The credential annotation its pod must carry; undefined for an agent that checks none. */
  readonly annotation: string | undefined;
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
  /** Check the credential of a pod in `namespace` (`annotation`: that pod's; default a fresh one). */
  readonly credential?: { readonly namespace: string; readonly annotation?: string; readonly key?: Buffer };
}

export async function startAgent(opts: StartAgentOptions): Promise<TestAgent> {
  const dir = await mkdtemp(join(tmpdir(), 'sandbank-router-agent-'));
  const annotation =
    opts.credential === undefined ? undefined : (opts.credential.annotation ?? credentialAnnotation());
  const auth =
    opts.credential === undefined || annotation === undefined
      ? { SANDBANK_AGENT_INSECURE_NO_AUTH: 'true' }
      : {
          SANDBANK_AGENT_TOKEN_SHA256: agentTokenDigest(
            agentToken(opts.credential.key ?? TEST_AGENT_KEY, opts.credential.namespace, annotation),
          ),
        };
  const config = loadConfig({
    SANDBANK_AGENT_WORKSPACE: dir,
    SANDBANK_AGENT_KILL_GRACE_MS: '200',
    SANDBANK_AGENT_MAX_PROCESSES: '2000',
    ...auth,
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
    annotation,
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
