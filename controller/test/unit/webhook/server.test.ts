// The webhook's HTTPS server on 127.0.0.1:0: conversion, the routes it refuses, its body limit,
// its metrics, and a certificate swapped without a restart.
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createLogger } from '../../../src/observability/logger.js';
import { issueCa, issueLeaf, type WebhookTls } from '../../../src/webhook/certs.js';
import { relabel } from './relabel.js';
import { createWebhookMetrics } from '../../../src/webhook/metrics.js';
import { buildWebhookServer, reloadTls } from '../../../src/webhook/server.js';

const NOW = new Date();
const ca = issueCa(NOW);
const tlsOf = (): WebhookTls => ({ caPem: ca.certPem, ...issueLeaf(ca, ['127.0.0.1', 'localhost'], NOW) });
const first = tlsOf();
const registry = new Registry();
const server = buildWebhookServer({
  tls: first,
  convert: relabel,
  log: createLogger({ level: 'silent' }),
  metrics: createWebhookMetrics(registry),
  maxBodyBytes: 64 * 1024,
});
let port = 0;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

interface Answer {
  status: number;
  body: string;
  headers: Record<string, unknown>;
  peer: X509Certificate | undefined;
}

function call(
  method: string,
  path: string,
  body?: string | Buffer,
  contentType = 'application/json',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ca: ca.certPem,
        agent: false,
        headers: body === undefined ? {} : { 'content-type': contentType },
      },
      (res) => {
        const peer = res.socket instanceof TLSSocket ? res.socket.getPeerX509Certificate() : undefined;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            headers: res.headers,
            peer,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const review = (n: number) =>
  JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'ConversionReview',
    request: {
      uid: 'r-1',
      desiredAPIVersion: 'conversion-test.sandbank.dev/v2',
      objects: Array.from({ length: n }, (_, i) => ({
        apiVersion: 'conversion-test.sandbank.dev/v1',
        kind: 'Gadget',
        metadata: { name: `g${i}`, uid: `u${i}` },
      })),
    },
  });

describe('webhook server', () => {
  it('converts a review posted to /convert (with the query the API server adds)', async () => {
    const answer = await call('POST', '/convert?timeout=30s', review(2));
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    const out = JSON.parse(answer.body) as {
      response: { uid: string; convertedObjects: { apiVersion: string }[] };
    };
    expect(out.response.uid).toBe('r-1');
    expect(out.response.convertedObjects.map((o) => o.apiVersion)).toEqual([
      'conversion-test.sandbank.dev/v2',
      'conversion-test.sandbank.dev/v2',
    ]);
    expect(await registry.getSingleMetricAsString('sandbank_conversion_requests_total')).toContain(
      'sandbank_conversion_requests_total{from="v1",to="v2",result="success"} 1',
    );
  });

  it('answers a review that does not parse with a Failure naming the field', async () => {
    const answer = await call(
      'POST',
      '/convert',
      JSON.stringify({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview' }),
    );
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({
      response: { result: { status: 'Failure', message: expect.stringMatching(/request/) } },
    });
  });

  it.each([
    ['GET', '/convert', undefined, 'application/json', 405],
    ['POST', '/convert', '{}', 'text/plain', 415],
    ['POST', '/convert', 'not json', 'application/json', 400],
    ['POST', '/other', '{}', 'application/json', 404],
    ['GET', '/', undefined, 'application/json', 404],
    ['DELETE', '/healthz', undefined, 'application/json', 405],
  ])('%s %s (body %s, %s) → %s', async (method, path, body, type, status) => {
    expect((await call(method, path, body, type)).status).toBe(status);
  });

  it('serves /healthz', async () => {
    expect(await call('GET', '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('refuses a body over the limit without reading it all', async () => {
    const answer = await call('POST', '/convert', Buffer.alloc(256 * 1024, 0x20));
    expect(answer.status).toBe(413);
    expect(await registry.getSingleMetricAsString('sandbank_conversion_requests_total')).toContain(
      'result="too_large"} 1',
    );
    // And keeps serving.
    expect((await call('POST', '/convert', review(1))).status).toBe(200);
  });

  it('serves a reloaded certificate on new connections', async () => {
    const before = await call('GET', '/healthz');
    expect(before.peer?.serialNumber).toBe(new X509Certificate(first.certPem).serialNumber);
    const second = tlsOf();
    reloadTls(server, second);
    const after = await call('GET', '/healthz');
    expect(after.peer?.serialNumber).toBe(new X509Certificate(second.certPem).serialNumber);
    expect(after.peer?.serialNumber).not.toBe(before.peer?.serialNumber);
  });
});
