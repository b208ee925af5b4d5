/**
 * The agent process as the image runs it (the bundle): configuration errors stop it with a
 * message naming the variable; SIGTERM drains (health NOT_SERVING, running processes killed
 * after the drain timeout, exit frames still delivered) and exits 0.
 */
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, makeGenericClientConstructor, Metadata, status } from '@grpc/grpc-js';
import type { ClientReadableStream, requestCallback } from '@grpc/grpc-js';
import {
  createAgentClient,
  HealthCheckResponse_ServingStatus as Serving,
  HealthServiceDefinition,
} from '@sandbank/proto';
import type { HealthCheckResponse, RunResponse } from '@sandbank/proto';
import { buildBundle, removeBundle, startAgentProcess } from '@sandbank/testing';
import { tokenDigest } from '../../src/index.js';
import { alive, eventually, execResult, failure, frameWhere, started, unary } from '../helpers/calls.js';

jest.setTimeout(30_000);

interface HealthClient {
  check(request: { service: string }, callback: requestCallback<HealthCheckResponse>): void;
  watch(request: { service: string }): ClientReadableStream<HealthCheckResponse>;
  close(): void;
}
const HealthClientCtor = makeGenericClientConstructor(HealthServiceDefinition, 'grpc.health.v1.Health');

let bundle: string;
let workspace: string;
beforeAll(async () => {
  bundle = buildBundle();
  workspace = await mkdtemp(join(tmpdir(), 'sandbank-main-test-'));
});
afterAll(async () => {
  removeBundle(bundle);
  await rm(workspace, { recursive: true, force: true });
});

it('refuses bad configuration with a message naming the variable, exit code 2', async () => {
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [bundle],
      { env: { SANDBANK_AGENT_GRPC_PORT: 'ninety' } },
      () => undefined,
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/SANDBANK_AGENT_GRPC_PORT/);
});

it('serves health, requires the token when configured, and drains on SIGTERM', async () => {
  const agent = await startAgentProcess(bundle, {
    SANDBANK_AGENT_WORKSPACE: workspace,
    SANDBANK_AGENT_DRAIN_TIMEOUT_MS: '500',
    SANDBANK_AGENT_TOKEN_SHA256: tokenDigest('sandbox-token'),
  });
  const address = `127.0.0.1:${agent.grpcPort}`;
  const health = new HealthClientCtor(address, credentials.createInsecure()) as unknown as HealthClient;
  const client = createAgentClient(address, credentials.createInsecure());
  const auth = new Metadata();
  auth.set('authorization', 'Bearer sandbox-token');
  try {
    // Probes need no token; agent calls do.
    const check = await unary<HealthCheckResponse>((cb) => health.check({ service: '' }, cb));
    expect(check.status).toBe(Serving.SERVING);
    const unknown = await failure(unary<HealthCheckResponse>((cb) => health.check({ service: 'nope' }, cb)));
    expect(unknown.code).toBe(status.NOT_FOUND);
    const denied = await failure(
      unary<RunResponse>((cb) => client.run({ process: { command: { case: 'shell', value: 'true' } } }, cb)),
    );
    expect(denied.code).toBe(status.UNAUTHENTICATED);
    const ok = await unary<RunResponse>((cb) =>
      client.run({ process: { command: { case: 'shell', value: 'echo authed' } } }, auth, cb),
    );
    expect(Buffer.from(ok.stdout).toString()).toBe('authed\n');

    const watch = health.watch({ service: '' });
    const statuses: Serving[] = [];
    watch.on('data', (r: HealthCheckResponse) => statuses.push(r.status));
    watch.on('error', () => undefined);
    await eventually(() => (statuses.length > 0 ? true : undefined));

    const call = client.exec(auth);
    call.write({
      frame: {
        case: 'start',
        value: { process: { command: { case: 'argv', value: { args: ['sleep', '60'] } } } },
      },
    });
    const startedFrame = await frameWhere(call, started);
    const pid = startedFrame.event.case === 'started' ? startedFrame.event.value.pid : 0;
    const result = execResult(call);

    agent.child.kill('SIGTERM');
    await eventually(() => (statuses.includes(Serving.NOT_SERVING) ? true : undefined));
    const r = await result;
    // The running process was killed at the drain timeout, and its exit still reached the caller.
    expect(r.error).toBeUndefined();
    expect(r.exit).toMatchObject({ signal: 'SIGKILL', exitCode: 137 });
    expect(await agent.exited).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(agent.logs.map((l) => l['msg'])).toEqual(
      expect.arrayContaining(['agent listening', 'draining', 'stopped']),
    );
  } finally {
    health.close();
    client.close();
    if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
  }
});

/** Runs the bundle with exactly `env` until it exits (or `timeoutMs`): its code and stderr. */
function runToExit(
  env: Record<string, string>,
  timeoutMs = 15_000,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bundle],
      { env, timeout: timeoutMs, killSignal: 'SIGKILL' },
      () => undefined,
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('default deny', () => {
  it('refuses to start with no credential configured, naming the variable and the opt-out', async () => {
    // What every sandbox pod had before per-pod credentials: no digest, so anyone who reached the
    // agent's ports could run commands.
    const result = await runToExit({
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      SANDBANK_AGENT_HOST: '127.0.0.1',
      SANDBANK_AGENT_GRPC_PORT: '0',
      SANDBANK_AGENT_REST_PORT: '0',
      SANDBANK_AGENT_WORKSPACE: workspace,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/SANDBANK_AGENT_TOKEN_SHA256: required/);
    expect(result.stderr).toMatch(/SANDBANK_AGENT_INSECURE_NO_AUTH=true/);
  });

  it('starts without a credential only with SANDBANK_AGENT_INSECURE_NO_AUTH=true, and warns', async () => {
    const agent = await startAgentProcess(bundle, {
      SANDBANK_AGENT_WORKSPACE: workspace,
      SANDBANK_AGENT_INSECURE_NO_AUTH: 'true',
    });
    try {
      const warning = agent.logs.find((l) => l['level'] === 40);
      expect(String(warning?.['msg'])).toMatch(/SANDBANK_AGENT_INSECURE_NO_AUTH=true/);
      expect(agent.logs.find((l) => l['msg'] === 'agent listening')?.['auth']).toBe('none');
    } finally {
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
  });
});

describe('a pod credential', () => {
  // Two pods' tokens as the controller derives them (any two distinct tokens: the agent only knows
  // its own token's digest).
  const mine = 'pod-a-token-GrTAGVxfK5RVKza3GFJN9vSHnT-H4aih1qAb892gT94';
  const another = 'pod-b-token-S8bEi8CMknDIDQt4Aj7Sme7zJZob2_0Ri7V-BCqLKRY';

  it("refuses calls without credentials and with another pod's token, on gRPC and REST", async () => {
    const agent = await startAgentProcess(bundle, {
      SANDBANK_AGENT_WORKSPACE: workspace,
      SANDBANK_AGENT_TOKEN_SHA256: tokenDigest(mine),
      // A template may carry the opt-out; the controller's digest wins over it.
      SANDBANK_AGENT_INSECURE_NO_AUTH: 'true',
    });
    const address = `127.0.0.1:${agent.grpcPort}`;
    const client = createAgentClient(address, credentials.createInsecure());
    const bearer = (token: string): Metadata => {
      const md = new Metadata();
      md.set('authorization', `Bearer ${token}`);
      return md;
    };
    const run = (md: Metadata) =>
      unary<RunResponse>((cb) =>
        client.run({ process: { command: { case: 'shell', value: 'echo ran' } } }, md, cb),
      );
    const rest = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${agent.restPort}/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ command: 'echo ran' }),
      });
    try {
      expect((await failure(run(new Metadata()))).code).toBe(status.UNAUTHENTICATED);
      expect((await failure(run(bearer(another)))).code).toBe(status.UNAUTHENTICATED);
      expect(Buffer.from((await run(bearer(mine))).stdout).toString()).toBe('ran\n');

      const none = await rest({});
      expect([none.status, await none.text()]).toEqual([401, '{"detail":"Not authenticated"}']);
      const wrong = await rest({ authorization: `Bearer ${another}` });
      expect([wrong.status, await wrong.text()]).toEqual([401, '{"detail":"Not authenticated"}']);
      const ok = await rest({ authorization: `Bearer ${mine}` });
      expect([ok.status, await ok.text()]).toEqual([200, '{"stdout":"ran\\n","stderr":"","exit_code":0}']);

      // The open probe says that the agent is up, and nothing about the sandbox.
      const probe = await fetch(`http://127.0.0.1:${agent.restPort}/`);
      expect([probe.status, await probe.text()]).toEqual([
        200,
        '{"status":"ok","message":"Sandbox Runtime is active."}',
      ]);
      expect(agent.logs.some((l) => String(l['msg']).includes('SANDBANK_AGENT_INSECURE_NO_AUTH'))).toBe(true);
    } finally {
      client.close();
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
  });
});
