/**
 * The webhook in the processes that run it: the controller (main.ts, in url mode against the
 * real API server) serves it before its caches and exits 2 naming the cause when it cannot; the
 * standalone webhook for loopback control planes prints where it listens, converts, and exits
 * once its parent is gone.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { integrationKubeConfig } from '@sandbank/e2e';
import { SECRETS, createKubeClient } from '@sandbank/kube';
import type { KubeClient, KubeObject } from '@sandbank/kube';
import { startController, waitControllerReady, type ControllerProcess } from '@sandbank/testing';
import { createNamespace, deleteNamespace } from './support.js';

const client: KubeClient = createKubeClient(integrationKubeConfig());
const kubeconfigPath = process.env['SANDBANK_KUBECONFIG'] ?? '';
const REPO = join(import.meta.dirname, '..', '..', '..');
let ns = '';
const procs: ControllerProcess[] = [];

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

describe('the controller process', () => {
  it('serves the conversion webhook with the certificate of the Secret it made', async () => {
    const port = await freePort();
    const proc = await startController({
      kubeconfigPath,
      namespace: ns,
      env: {
        WEBHOOK_URL: `https://127.0.0.1:${port}/convert`,
        WEBHOOK_PORT: String(port),
        WEBHOOK_BIND_ADDRESS: '127.0.0.1',
        WEBHOOK_SECRET: `${ns}/sandbank-webhook-tls`,
      },
    });
    procs.push(proc);
    await waitControllerReady(proc, 60_000);
    const secret = await client.get<KubeObject & { data: Record<string, string> }>(
      SECRETS,
      ns,
      'sandbank-webhook-tls',
    );
    const ca = Buffer.from(secret?.data['ca.crt'] ?? '', 'base64').toString();
    expect(ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(await https('GET', `https://127.0.0.1:${port}/healthz`, ca)).toEqual({
      status: 200,
      body: 'ok\n',
    });
    const review = await https(
      'POST',
      `https://127.0.0.1:${port}/convert`,
      ca,
      JSON.stringify({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'ConversionReview',
        request: { uid: 'u', desiredAPIVersion: 'a.b/v2', objects: [] },
      }),
    );
    expect(JSON.parse(review.body)).toMatchObject({ response: { uid: 'u', result: { status: 'Success' } } });
    const metrics = (await proc.http('/metrics'))?.body ?? '';
    expect(metrics).toContain('sandbank_conversion_requests_total{from="none",to="v2",result="success"} 1');
  });

  it('exits 2 naming the Secret when the webhook cannot get a certificate', async () => {
    const port = await freePort();
    const proc = await startController({
      kubeconfigPath,
      namespace: ns,
      env: {
        WEBHOOK: 'on',
        WEBHOOK_PORT: String(port),
        WEBHOOK_BIND_ADDRESS: '127.0.0.1',
        WEBHOOK_SECRET: `no-such-namespace-${process.pid}/sandbank-webhook-tls`,
      },
    });
    procs.push(proc);
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain(
      `sandbank-controller: conversion webhook: serving certificate: Secret no-such-namespace-${process.pid}/sandbank-webhook-tls: cannot be created: does namespace no-such-namespace-${process.pid} exist?`,
    );
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
