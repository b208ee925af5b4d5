/**
 * The webhook in the processes that run it: its own process (webhook/main.ts, the Deployment
 * sandbank-webhook; url mode against the real API server here) makes its certificate Secret,
 * points the CRDs at itself with that CA, serves, drains on SIGTERM, and exits 2 naming the
 * cause when it cannot start; the controller no longer serves it; the standalone webhook for
 * loopback control planes prints where it listens, converts, and exits once its parent is gone.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { integrationKubeConfig } from '@sandbank/e2e';
import { CUSTOM_RESOURCE_DEFINITIONS, SECRETS, createKubeClient } from '@sandbank/kube';
import type { KubeClient, KubeObject } from '@sandbank/kube';
import { startController, waitControllerReady, type ControllerProcess } from '@sandbank/testing';
import { SANDBANK_CRDS } from '../../src/crds.js';
import { createNamespace, deleteNamespace } from './support.js';

const client: KubeClient = createKubeClient(integrationKubeConfig());
const kubeconfigPath = process.env['SANDBANK_KUBECONFIG'] ?? '';
const REPO = join(import.meta.dirname, '..', '..', '..');
let ns = '';
const procs: ControllerProcess[] = [];
const webhooks: WebhookProcess[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function https(
  method: string,
  url: string,
  ca: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, ca, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  ns = await createNamespace(client, 'webhook-proc');
});
afterAll(async () => {
  for (const p of procs) await p.kill();
  await deleteNamespace(client, ns);
});

/** A process of webhook/main.ts, as the Deployment sandbank-webhook runs it (url mode here). */
interface WebhookProcess {
  readonly pid: number;
  readonly exited: Promise<number | null>;
  output(): string;
  kill(signal?: NodeJS.Signals): void;
}

function startWebhookProcess(env: Record<string, string>): WebhookProcess {
  const main = join(REPO, 'controller', 'src', 'webhook', 'main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', main], {
    cwd: REPO,
    env: { PATH: process.env['PATH'] ?? '', KUBECONFIG: kubeconfigPath, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc = {
    pid: child.pid ?? 0,
    exited,
    output: () => out,
    kill: (signal: NodeJS.Signals = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  webhooks.push(proc);
  return proc;
}

function http(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls until `probe` holds; the process's exit fails it at once with its output. */
async function until(proc: WebhookProcess, what: string, probe: () => Promise<boolean>): Promise<void> {
  let exit: number | null | undefined;
  proc.exited.then(
    (code) => (exit = code),
    () => undefined,
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exit !== undefined)
      throw new Error(`webhook exited (${String(exit)}) before ${what}:\n${proc.output()}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`no ${what} within 60 s:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const review = (uid: string): string =>
  JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'ConversionReview',
    request: { uid, desiredAPIVersion: 'a.b/v2', objects: [] },
  });

describe('the webhook process (webhook/main.ts)', () => {
  // The process points Sandbank's CRDs at itself; put back what the run had once it is gone.
  let saved: Map<string, unknown> = new Map();
  beforeAll(async () => {
    saved = new Map(
      await Promise.all(
        SANDBANK_CRDS.map(async (name) => {
          const crd = await client.get<KubeObject & { spec: { conversion?: unknown } }, false>(
            CUSTOM_RESOURCE_DEFINITIONS,
            '',
            name,
          );
          return [name, crd?.spec.conversion] as const;
        }),
      ),
    );
  });
  afterAll(async () => {
    for (const w of webhooks) w.kill();
    await Promise.all(webhooks.map((w) => w.exited));
    for (const [name, conversion] of saved)
      if (conversion !== undefined)
        await client.mergePatch(CUSTOM_RESOURCE_DEFINITIONS, '', name, { spec: { conversion } });
  });

  it("serves conversion with the Secret's CA, points the CRDs at it, and drains on SIGTERM", async () => {
    const [port, healthPort] = [await freePort(), await freePort()];
    const proc = startWebhookProcess({
      POD_NAMESPACE: ns,
      WEBHOOK_URL: `https://127.0.0.1:${port}/convert`,
      WEBHOOK_PORT: String(port),
      WEBHOOK_BIND_ADDRESS: '127.0.0.1',
      HTTP_PORT: String(healthPort),
      HTTP_BIND_ADDRESS: '127.0.0.1',
    });
    await until(proc, 'readiness', async () => (await http(healthPort, '/readyz')).status === 200);

    // The Secret it made in its own namespace (WEBHOOK_SECRET unset: sandbank-webhook-tls).
    const secret = await client.get<KubeObject & { data: Record<string, string> }>(
      SECRETS,
      ns,
      'sandbank-webhook-tls',
    );
    const ca = Buffer.from(secret?.data['ca.crt'] ?? '', 'base64').toString();
    expect(ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    // A CRD serving two versions is pointed at this process with that CA; one serving a single
    // version needs no webhook and is left as it was.
    for (const name of SANDBANK_CRDS) {
      const crd = await client.get<
        KubeObject & { spec: { conversion?: unknown; versions: { served: boolean }[] } },
        false
      >(CUSTOM_RESOURCE_DEFINITIONS, '', name);
      const served = crd?.spec.versions.filter((v) => v.served).length ?? 0;
      expect({ name, conversion: crd?.spec.conversion }).toEqual({
        name,
        conversion:
          served >= 2
            ? {
                strategy: 'Webhook',
                webhook: {
                  conversionReviewVersions: ['v1'],
                  clientConfig: {
                    url: `https://127.0.0.1:${port}/convert`,
                    caBundle: secret?.data['ca.crt'],
                  },
                },
              }
            : saved.get(name),
      });
    }
    // Trusted through that CA alone (https() verifies the chain and the name 127.0.0.1).
    const answer = await https('POST', `https://127.0.0.1:${port}/convert`, ca, review('u'));
    expect(JSON.parse(answer.body)).toMatchObject({ response: { uid: 'u', result: { status: 'Success' } } });
    expect((await http(healthPort, '/metrics')).body).toContain(
      'sandbank_conversion_requests_total{from="none",to="v2",result="success"} 1',
    );

    // A review in flight across SIGTERM: its headers and half its body sent now...
    const body = review('u3');
    let inFlight: Promise<{ status: number; body: string }> = Promise.resolve({ status: 0, body: '' });
    const req = await new Promise<ClientRequest>((resolve, reject) => {
      inFlight = new Promise((done, fail) => {
        const r = request(
          `https://127.0.0.1:${port}/convert`,
          {
            method: 'POST',
            ca,
            agent: false,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
            );
          },
        );
        r.on('error', fail);
        r.once('socket', (socket) => socket.once('secureConnect', () => resolve(r)));
        r.once('error', reject);
        r.write(body.slice(0, 10));
      });
    });
    proc.kill('SIGTERM');
    // ...not ready first (the Service drops it), then no new connection is accepted...
    await until(
      proc,
      'not ready after SIGTERM',
      async () => (await http(healthPort, '/readyz')).status === 503,
    );
    await until(proc, 'the listener closed', () =>
      https('GET', `https://127.0.0.1:${port}/healthz`, ca).then(
        () => false,
        (error: unknown) => String(error).includes('ECONNREFUSED'),
      ),
    );
    // ...while the review in flight is still answered, and only then does the process exit.
    req.end(body.slice(10));
    const answered = await inFlight;
    expect(JSON.parse(answered.body)).toMatchObject({
      response: { uid: 'u3', result: { status: 'Success' } },
    });
    expect(await proc.exited).toBe(0);
  });

  it('exits 2 naming the Secret when it cannot get a certificate', async () => {
    const proc = startWebhookProcess({
      POD_NAMESPACE: ns,
      WEBHOOK_PORT: String(await freePort()),
      WEBHOOK_BIND_ADDRESS: '127.0.0.1',
      WEBHOOK_SECRET: `no-such-namespace-${process.pid}/sandbank-webhook-tls`,
      HTTP_PORT: String(await freePort()),
    });
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain(
      `sandbank-webhook: serving certificate: Secret no-such-namespace-${process.pid}/sandbank-webhook-tls: cannot be created: does namespace no-such-namespace-${process.pid} exist?`,
    );
  });

  it('exits 2 naming the address when its port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const proc = startWebhookProcess({
        POD_NAMESPACE: ns,
        WEBHOOK_URL: `https://127.0.0.1:${port}/convert`,
        WEBHOOK_PORT: String(port),
        WEBHOOK_BIND_ADDRESS: '127.0.0.1',
        HTTP_PORT: String(await freePort()),
      });
      expect(await proc.exited).toBe(2);
      expect(proc.output()).toMatch(
        new RegExp(`sandbank-webhook: listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
      );
    } finally {
      taken.close();
    }
  });

  it("starts with the controller's own settings set to garbage: they are not its to read", async () => {
    const [port, healthPort] = [await freePort(), await freePort()];
    const proc = startWebhookProcess({
      POD_NAMESPACE: ns,
      WEBHOOK_URL: `https://127.0.0.1:${port}/convert`,
      WEBHOOK_PORT: String(port),
      WEBHOOK_BIND_ADDRESS: '127.0.0.1',
      HTTP_PORT: String(healthPort),
      HTTP_BIND_ADDRESS: '127.0.0.1',
      CONTROLLER_WORKERS: 'garbage',
      LEADER_ELECTION_RENEW_DEADLINE_MS: 'garbage',
      WATCH_NAMESPACE: 'Not/A Namespace',
      STORAGE_MIGRATION: 'garbage',
      SANDBOX_ALLOWED_CAPABILITIES: 'ALL',
      ROUTER_NAMESPACE: 'garbage',
    });
    await until(proc, 'readiness', async () => (await http(healthPort, '/readyz')).status === 200);
    proc.kill();
    await proc.exited;
  });

  it('refuses a configuration it cannot use, naming the variable', async () => {
    const proc = startWebhookProcess({ WEBHOOK_URL: 'http://127.0.0.1:1/convert' });
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain(
      'sandbank-webhook: invalid configuration:\n  WEBHOOK_URL (--webhook-url): must be an https:// URL',
    );
  });
});

describe('the controller process', () => {
  it("starts with the webhook's own settings set to garbage: they are not its to read", async () => {
    const proc = await startController({
      kubeconfigPath,
      namespace: ns,
      env: {
        WEBHOOK_PORT: 'garbage',
        WEBHOOK_CERT_MODE: 'garbage',
        WEBHOOK_SECRET: 'a/b/c',
        WEBHOOK_URL: 'http://127.0.0.1:1/convert',
      },
    });
    procs.push(proc);
    await waitControllerReady(proc, 60_000);
    await proc.kill();
  });

  it('no longer serves conversion: a leftover WEBHOOK=on stops it naming the webhook Deployment', async () => {
    const proc = await startController({ kubeconfigPath, namespace: ns, env: { WEBHOOK: 'on' } });
    procs.push(proc);
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain('WEBHOOK: removed; the conversion webhook is its own process');
  });
});

describe('the standalone webhook', () => {
  it('prints where it listens, converts, and exits once its parent is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webhook-standalone-'));
    // A shell as the parent, so the test can kill the parent and watch the webhook follow it.
    const standalone = join(REPO, 'controller', 'src', 'webhook', 'standalone.ts');
    const parent = spawn(
      'sh',
      ['-c', `"${process.execPath}" --import tsx --conditions=source "${standalone}" --dir="${dir}" & wait`],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        parent.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
        });
        parent.once('exit', (code) =>
          reject(new Error(`standalone webhook exited (${String(code)}) before printing: ${out}`)),
        );
      });
      const info = JSON.parse(line) as { pid: number; port: number; url: string; caFile: string };
      expect(info.url).toBe(`https://127.0.0.1:${info.port}/convert`);
      const ca = readFileSync(info.caFile, 'utf8');
      const answer = await https(
        'POST',
        info.url,
        ca,
        JSON.stringify({
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'ConversionReview',
          request: {
            uid: 'u2',
            desiredAPIVersion: 'extensions.agents.x-k8s.io/v1beta1',
            objects: [
              {
                apiVersion: 'extensions.agents.x-k8s.io/v1alpha1',
                kind: 'SandboxTemplate',
                metadata: { name: 'x', uid: '1' },
                spec: { podTemplate: { spec: { containers: [] } } },
              },
            ],
          },
        }),
      );
      expect(JSON.parse(answer.body)).toMatchObject({
        response: {
          uid: 'u2',
          convertedObjects: [{ apiVersion: 'extensions.agents.x-k8s.io/v1beta1', kind: 'SandboxTemplate' }],
          result: { status: 'Success' },
        },
      });

      parent.kill('SIGKILL');
      const deadline = Date.now() + 30_000;
      for (;;) {
        let alive = true;
        try {
          process.kill(info.pid, 0);
        } catch {
          alive = false;
        }
        if (!alive) break;
        if (Date.now() > deadline)
          throw new Error(`standalone webhook ${info.pid} still running 30 s after its parent died`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      parent.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
