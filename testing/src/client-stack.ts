/**
 * The Sandbank stack the TypeScript client's integration tests and benchmarks run against (the
 * twin of clients/python/tests/stack.py), on the integration project's control plane (its global
 * setup applied the CRDs and runs the conversion webhook): in a fresh namespace, the controller
 * (a process), a router process with token auth, one agent process, and a template + warm pool.
 *
 * Sandbox pods land on kwok's fake node with `hostNetwork`, so every pod's IP is 127.0.0.1, where
 * the one agent listens: the controller binds real claims to real warm pods, the router resolves
 * them through its watches and calls the real agent. The agent stands in for every pod, so it
 * cannot hold one pod's credential digest: it runs with the local-development opt-out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { integrationKubeConfig, repoRoot } from '@sandbank/e2e';
import { buildBundle, removeBundle, startAgentProcess, type AgentProcess } from './agent-process.js';
import {
  freePort,
  startController,
  waitControllerReady,
  type ControllerProcess,
} from './controller-process.js';
import { ensureRuntimeClass, EXT } from './fixtures.js';
import { waitFor } from './wait.js';

export interface ClientStackOptions {
  /** Warm pool size. Default 2. */
  readonly poolReplicas?: number;
}

export interface ClientStack {
  /** The control plane's kubeconfig file: what a client user passes as `kubeconfig`. */
  readonly kubeconfigPath: string;
  readonly namespace: string;
  /** `http://127.0.0.1:<port>`: the router (token auth). */
  readonly routerUrl: string;
  readonly token: string;
  readonly template: string;
  readonly pool: string;
  /** The agent's workspace on this machine (what every sandbox here sees). */
  readonly workspace: string;
  /** Stops the processes, deletes the namespace and the files. Safe to call twice. */
  stop(): Promise<void>;
}

export const CLIENT_STACK_TEMPLATE = 'ts-runtime';
export const CLIENT_STACK_POOL = 'ts-runtime';

/** The router's main.ts as its own process; resolves once `/readyz` answers 200 (its watches synced). */
async function startRouterProcess(
  env: Record<string, string>,
  port: number,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', join(repoRoot, 'router', 'src', 'main.ts')],
    { cwd: repoRoot, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env } },
  );
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-16_384);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited: number | string | undefined;
  child.once('exit', (code, signal) => (exited = code ?? signal ?? 'unknown'));
  // Readiness is an endpoint to ask, as a kubelet's probe asks it.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`router exited (${exited}) before ready:\n${output}`);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return { child, output: () => output };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`router not ready after 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(timer);
}

export async function startClientStack(options: ClientStackOptions = {}): Promise<ClientStack> {
  const kubeconfigPath = process.env['SANDBANK_KUBECONFIG'];
  if (!kubeconfigPath)
    throw new Error('SANDBANK_KUBECONFIG is not set: run in the jest `integration` project');
  const kc = integrationKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const replicas = options.poolReplicas ?? 2;
  const namespace = `ts-client-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'sandbank-ts-client-'));
  const workspace = join(dir, 'workspace');
  mkdirSync(workspace);
  let bundle: string | undefined;
  let agent: AgentProcess | undefined;
  let controller: ControllerProcess | undefined;
  let router: ChildProcess | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await stopChild(router);
      await controller?.kill('SIGTERM');
      if (agent) {
        agent.child.kill('SIGTERM');
        await agent.exited;
      }
      if (bundle) removeBundle(bundle);
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    })());

  try {
    await core.createNamespace({
      body: {
        metadata: {
          name: namespace,
          // The sandbox profile refuses hostNetwork unless a cluster admin allows it in the namespace.
          labels: { 'sandbox-profile.sandbank.dev/allow-host-network': 'true' },
        },
      },
    });
    await ensureRuntimeClass(kc);
    bundle = buildBundle();
    agent = await startAgentProcess(bundle, {
      SANDBANK_AGENT_WORKSPACE: workspace,
      SANDBANK_AGENT_LOG_LEVEL: 'info',
    });
    controller = await startController({ kubeconfigPath, namespace });
    await waitControllerReady(controller);
    // Ready means the agent key exists; the router reads it as a file, as its Secret volume holds it.
    const keySecret = await core.readNamespacedSecret({ name: 'sandbank-agent-key', namespace });
    const key = keySecret.data?.['key'];
    if (!key) throw new Error(`Secret ${namespace}/sandbank-agent-key has no key`);
    const keyFile = join(dir, 'agent-key');
    writeFileSync(keyFile, Buffer.from(key, 'base64'), { mode: 0o600 });

    // One preview signing key (the file name is its id), so signed preview links are on.
    const previewKeys = join(dir, 'preview-keys');
    mkdirSync(previewKeys);
    writeFileSync(join(previewKeys, 'test'), randomBytes(32), { mode: 0o600 });

    const token = randomBytes(24).toString('base64url');
    const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
    const started = await startRouterProcess(
      {
        KUBECONFIG: kubeconfigPath,
        ROUTER_AUTH_MODE: 'token',
        ROUTER_AUTH_TOKEN: token,
        ROUTER_AUTH_TOKEN_SCOPES: `token=${namespace}`,
        ROUTER_NAMESPACES: namespace,
        ROUTER_HOST: '127.0.0.1',
        ROUTER_PORT: String(http),
        ROUTER_GRPC_PORT: String(grpc),
        ROUTER_METRICS_PORT: String(metrics),
        ROUTER_AGENT_GRPC_PORT: String(agent.grpcPort),
        ROUTER_AGENT_LEGACY_PORT: String(agent.restPort),
        ROUTER_AGENT_KEY_FILE: keyFile,
        ROUTER_PREVIEW_KEYS_DIR: previewKeys,
        ROUTER_LOG_LEVEL: 'warn',
      },
      http,
    );
    router = started.child;

    await createTemplateAndPool(custom, namespace, replicas);
    await waitFor<{ status?: { readyReplicas?: number } }>(
      kc,
      `/apis/${EXT.group}/${EXT.version}/namespaces/${namespace}/sandboxwarmpools`,
      CLIENT_STACK_POOL,
      (pool) => (pool?.status?.readyReplicas ?? 0) >= replicas,
      {
        timeoutMs: 60_000,
        description: `warm pool ${namespace}/${CLIENT_STACK_POOL} with ${replicas} ready`,
      },
    );
    return {
      kubeconfigPath,
      namespace,
      routerUrl: `http://127.0.0.1:${http}`,
      token,
      template: CLIENT_STACK_TEMPLATE,
      pool: CLIENT_STACK_POOL,
      workspace,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The template: hostNetwork (the pod's IP is the agent's), no container ports (with hostNetwork
 * they would be host ports, and the one fake node would take a single pod), any port reachable
 * through the port route by the annotation, the agent's gRPC protocol.
 */
async function createTemplateAndPool(
  custom: CustomObjectsApi,
  namespace: string,
  replicas: number,
): Promise<void> {
  const apiVersion = `${EXT.group}/${EXT.version}`;
  await custom.createNamespacedCustomObject({
    ...EXT,
    namespace,
    plural: 'sandboxtemplates',
    body: {
      apiVersion,
      kind: 'SandboxTemplate',
      metadata: { name: CLIENT_STACK_TEMPLATE },
      spec: {
        podTemplate: {
          metadata: {
            labels: { 'sandbank.dev/agent-protocol': 'grpc' },
            annotations: { 'sandbank.dev/expose-any-port': 'true' },
          },
          spec: {
            hostNetwork: true,
            automountServiceAccountToken: false,
            containers: [{ name: 'runtime', image: 'sandbank/runtime:test' }],
          },
        },
      },
    },
  });
  await custom.createNamespacedCustomObject({
    ...EXT,
    namespace,
    plural: 'sandboxwarmpools',
    body: {
      apiVersion,
      kind: 'SandboxWarmPool',
      metadata: { name: CLIENT_STACK_POOL },
      spec: { replicas, sandboxTemplateRef: { name: CLIENT_STACK_TEMPLATE } },
    },
  });
}
