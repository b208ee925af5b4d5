/**
 * The router's listeners with TLS on (the certificate `make up` generates, from
 * e2e/cluster/lib/router-tls.sh): clients that trust the CA run commands over HTTPS, WebSocket and
 * gRPC; clients that do not are refused the handshake, so their bearer token is never sent;
 * plaintext gets no answer on either port (no downgrade); a renewed certificate on disk is served
 * without a restart, and a half-written pair is not.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import type { ChannelCredentials, ServiceError } from '@grpc/grpc-js';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import WebSocket from 'ws';
import { ALL_NAMESPACES, buildRouterApp, createLogger, tokenAuthenticator } from '../../src/index.js';
import type { RouterApp } from '../../src/index.js';
import { listenRouter } from '../../src/listen.js';
import type { RouterListeners } from '../../src/listen.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { staticLookup } from '../helpers/static-lookup.js';
import { routerTls } from '../helpers/tls.js';
import type { RouterTls } from '../helpers/tls.js';

/** Real processes and handshakes on a busy machine: generous, but a hang still fails. */
const TIMEOUT_MS = 60_000;
const TOKEN = 'tls-test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
/** The name in-cluster clients dial; the certificate must cover it. */
const SERVICE_NAME = 'sandbox-router-svc.sandbank-system.svc';

let dir: string;
let tls: RouterTls;
let stranger: RouterTls;
let agent: TestAgent;
let app: RouterApp;
let listeners: RouterListeners;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sandbank-router-tls-'));
  tls = await routerTls(join(dir, 'router'));
  stranger = await routerTls(join(dir, 'stranger'));
  agent = await startAgent({ ip: '127.0.0.10', grpcPort: 0 });
  app = buildRouterApp({
    auth: tokenAuthenticator({ token: { token: TOKEN, namespaces: ALL_NAMESPACES } }),
    lookup: staticLookup([{ namespace: 'default', name: 'sb', ip: agent.ip }]),
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
    log: createLogger('silent'),
    connect: { timeoutMs: 5_000, retryDelaysMs: [50] },
    tls: { cert: tls.cert(), key: tls.key() },
  });
  listeners = await listenRouter(app, {
    host: '127.0.0.1',
    port: 0,
    grpcPort: 0,
    metricsPort: 0,
    // the timer never fires during the run: the tests reload explicitly
    transport: {
      kind: 'tls',
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      reloadMs: 3_600_000,
      material: { cert: tls.cert(), key: tls.key() },
    },
    log: createLogger('silent'),
  });
}, TIMEOUT_MS);

afterAll(async () => {
  await listeners?.close();
  await app?.close();
  await agent?.close();
  await rm(dir, { recursive: true, force: true });
}, TIMEOUT_MS);

interface Answer {
  status: number;
  body: string;
}

/** One HTTPS request on its own connection; `servername` is the name the certificate is checked against. */
function https(
  path: string,
  opts: { ca?: Buffer; servername?: string; method?: string; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: listeners.httpPort,
        path,
        method: opts.method ?? 'GET',
        headers: { ...AUTH, 'content-type': 'application/json' },
        agent: false,
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.servername ? { servername: opts.servername } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const execBody = JSON.stringify({ command: ['echo', 'over tls'] });
const EXEC_PATH = '/v1/namespaces/default/sandboxes/sb/exec';

test(
  'HTTPS: a client that trusts the CA runs a command, by IP and by the names the certificate covers',
  async () => {
    const byIp = await https(EXEC_PATH, { ca: tls.ca(), method: 'POST', body: execBody });
    expect(byIp.status).toBe(200);
    expect(JSON.parse(byIp.body)).toMatchObject({ exitCode: 0, stdout: 'over tls\n' });
    for (const servername of ['localhost', SERVICE_NAME]) {
      const res = await https('/healthz', { ca: tls.ca(), servername });
      expect({ servername, status: res.status }).toEqual({ servername, status: 200 });
    }
    // a name the certificate does not cover is refused like a stranger's certificate
    await expect(https('/healthz', { ca: tls.ca(), servername: 'router.example.com' })).rejects.toMatchObject(
      {
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      },
    );
  },
  TIMEOUT_MS,
);

test(
  'HTTPS: a client that does not trust the CA is refused the handshake before it sends anything',
  async () => {
    for (const ca of [stranger.ca(), undefined]) {
      await expect(
        https(EXEC_PATH, { ...(ca ? { ca } : {}), method: 'POST', body: execBody }),
      ).rejects.toMatchObject({
        code: expect.stringMatching(
          /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/,
        ) as unknown,
      });
    }
  },
  TIMEOUT_MS,
);

test(
  'WebSocket exec over wss with the CA',
  async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${listeners.httpPort}${EXEC_PATH}`, 'sandbank.exec.v1', {
      headers: AUTH,
      ca: tls.ca(),
    });
    const out: Buffer[] = [];
    const exit = new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) {
          if (data[0] === 1) out.push(data.subarray(1));
          return;
        }
        const frame = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
        if (frame['type'] === 'exit') resolve(frame);
      });
      ws.on('error', reject);
      ws.on('close', (code) => reject(new Error(`closed before exit: ${code}`)));
    });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'start', command: ['echo', 'over wss'] })));
    await expect(exit).resolves.toMatchObject({ exitCode: 0 });
    expect(Buffer.concat(out).toString()).toBe('over wss\n');
    ws.close();
  },
  TIMEOUT_MS,
);

function grpcRun(creds: ChannelCredentials, withToken = true): Promise<string> {
  const client = createAgentClient(`127.0.0.1:${listeners.grpcPort}`, creds);
  const md = new Metadata();
  md.set('x-sandbox-id', 'sb');
  if (withToken) md.set('authorization', AUTH.authorization);
  return createAgentPromiseClient(client)
    .run(
      { process: { command: { case: 'shell', value: 'echo over grpc' } } },
      { metadata: md, deadline: Date.now() + 30_000 },
    )
    .then((r) => Buffer.from(r.stdout).toString())
    .finally(() => client.close());
}

/** A passthrough call over `creds` fails UNAVAILABLE without the router ever answering it. */
async function expectNoRouterAnswer(creds: ChannelCredentials): Promise<void> {
  const err = (await grpcRun(creds).then(
    () => undefined,
    (e: unknown) => e,
  )) as ServiceError | undefined;
  expect(err?.code).toBe(status.UNAVAILABLE);
  // the router's own answers carry sandbank-error-code
  expect(err?.metadata?.get('sandbank-error-code')).toEqual([]);
}

test(
  'gRPC over TLS: with the CA a passthrough call runs; without it the channel never carries a call',
  async () => {
    await expect(grpcRun(credentials.createSsl(tls.ca()))).resolves.toBe('over grpc\n');
    for (const creds of [credentials.createSsl(stranger.ca()), credentials.createSsl()]) {
      await expectNoRouterAnswer(creds);
    }
  },
  TIMEOUT_MS,
);

/** Sends raw bytes, collects everything until the peer closes (or 10 s). */
function rawExchange(port: number, bytes: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = netConnect(port, '127.0.0.1', () => socket.write(bytes));
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(done, 10_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', done);
    socket.on('error', done);
  });
}

test(
  'no downgrade: plaintext HTTP and plaintext gRPC get no answer from either port',
  async () => {
    const plainHttp = `GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${AUTH.authorization}\r\n\r\n`;
    for (const port of [listeners.httpPort, listeners.grpcPort]) {
      const answer = (await rawExchange(port, plainHttp)).toString('latin1');
      expect({ port, answer }).toEqual({
        port,
        answer: expect.not.stringMatching(/HTTP\/1\.[01] \d{3}/) as unknown,
      });
    }
    await expect(
      new Promise((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port: listeners.httpPort, path: '/healthz', agent: false },
          resolve,
        );
        req.on('error', reject);
        req.end();
      }),
    ).rejects.toThrow();
    await expectNoRouterAnswer(credentials.createInsecure());
  },
  TIMEOUT_MS,
);

/** The fingerprint of the certificate a new TLS connection to `port` is shown. */
function servedFingerprint(port: number, alpn: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: tls.ca(), ALPNProtocols: [alpn] }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(cert.fingerprint256);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
  });
}

test(
  'a renewed certificate on disk is served without a restart; a half-written pair is not',
  async () => {
    const first = new X509Certificate(tls.cert()).fingerprint256;
    expect(await servedFingerprint(listeners.httpPort, 'http/1.1')).toBe(first);
    expect(await servedFingerprint(listeners.grpcPort, 'h2')).toBe(first);
    expect(await listeners.reloadCertificate()).toBe('unchanged');

    // new names (another ClusterIP): the same CA signs a new certificate with a new key
    const oldCert = tls.cert();
    const renewed = await routerTls(tls.dir, ['10.96.7.7']);
    expect(renewed.outcome).toBe('created');
    const second = new X509Certificate(renewed.cert()).fingerprint256;
    expect(second).not.toBe(first);
    expect(await listeners.reloadCertificate()).toBe('updated');
    expect(await servedFingerprint(listeners.httpPort, 'http/1.1')).toBe(second);
    expect(await servedFingerprint(listeners.grpcPort, 'h2')).toBe(second);
    await expect(grpcRun(credentials.createSsl(tls.ca()))).resolves.toBe('over grpc\n');

    // the old certificate next to the new key (a rotation caught halfway): kept serving the last good pair
    await writeFile(tls.certFile, oldCert);
    expect(await listeners.reloadCertificate()).toBe('invalid');
    expect(await servedFingerprint(listeners.httpPort, 'http/1.1')).toBe(second);
    expect(await servedFingerprint(listeners.grpcPort, 'h2')).toBe(second);
    const afterHalf = await https('/healthz', { ca: tls.ca() });
    expect(afterHalf.status).toBe(200);
  },
  TIMEOUT_MS,
);
