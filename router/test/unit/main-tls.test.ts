/**
 * The router process itself (src/main.ts, as the container runs it) with the certificate from a
 * mounted Secret: HTTPS and gRPC over TLS answer clients that trust the CA, plaintext gets no
 * answer; and without a certificate it refuses to start on an address other than loopback, naming
 * the setting. Its Kubernetes API is an address where nothing listens: resolution never syncs,
 * which these checks do not need.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import type { ChannelCredentials, ServiceError } from '@grpc/grpc-js';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import { routerTls } from '../helpers/tls.js';
import type { RouterTls } from '../helpers/tls.js';

const TIMEOUT_MS = 90_000;
const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const MAIN = join(REPO, 'router', 'src', 'main.ts');
const TOKEN = 'main-tls-test-token-0123456789';

let dir: string;
let tls: RouterTls;
let kubeconfig: string;
const started: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sandbank-router-main-'));
  tls = await routerTls(join(dir, 'tls'));
  kubeconfig = join(dir, 'kubeconfig');
  // port 9 on loopback: nothing listens, every list/watch fails fast and is retried quietly
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]',
      'users: [{name: none, user: {token: unused}}]',
      'contexts: [{name: none, context: {cluster: none, user: none}}]',
      'current-context: none',
      '',
    ].join('\n'),
  );
}, TIMEOUT_MS);

afterAll(async () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

interface Router {
  readonly proc: ChildProcess;
  /** The JSON log line `sandbank router listening`. */
  readonly listening: Promise<Record<string, unknown>>;
  readonly exit: Promise<{ code: number | null; stderr: string }>;
}

function startMain(env: Record<string, string>): Router {
  // node with tsx's loader, one process (tsx's own CLI would put a wrapper process in between)
  const proc = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', MAIN], {
    cwd: REPO,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      KUBECONFIG: kubeconfig,
      ROUTER_AUTH_MODE: 'token',
      ROUTER_AUTH_TOKEN: TOKEN,
      ROUTER_AUTH_TOKEN_SCOPES: 'token=*',
      ROUTER_PORT: '0',
      ROUTER_GRPC_PORT: '0',
      ROUTER_METRICS_PORT: '0',
      ROUTER_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(proc);
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    proc.on('exit', (code) => resolve({ code, stderr })),
  );
  const listening = new Promise<Record<string, unknown>>((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry['msg'] === 'sandbank router listening') resolve(entry);
      } catch {
        // not a log line
      }
    });
    exit
      .then(({ code, stderr: err }) => reject(new Error(`router exited ${String(code)}: ${err}`)))
      .catch(() => undefined);
  });
  // a router that exits before listening is what some tests expect: they read `exit` instead
  listening.catch(() => undefined);
  return { proc, listening, exit };
}

function httpsGet(port: number, path: string, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, ca, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

function plaintextAnswer(port: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = netConnect(port, '127.0.0.1', () =>
      socket.write(`GET /healthz HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`),
    );
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, 10_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', done);
    socket.on('error', done);
  });
}

async function grpcStatus(port: number, creds: ChannelCredentials): Promise<ServiceError> {
  const client = createAgentClient(`127.0.0.1:${port}`, creds);
  const md = new Metadata();
  md.set('x-sandbox-id', 'sb'); // no token: the router answers UNAUTHENTICATED
  try {
    await createAgentPromiseClient(client).run(
      { process: { command: { case: 'shell', value: 'true' } } },
      { metadata: md, deadline: Date.now() + 30_000 },
    );
    throw new Error('the call succeeded without a token');
  } catch (error) {
    return error as ServiceError;
  } finally {
    client.close();
  }
}

test(
  'with ROUTER_TLS_CERT_FILE and ROUTER_TLS_KEY_FILE: HTTPS and gRPC over TLS, nothing in plaintext',
  async () => {
    const router = startMain({
      ROUTER_HOST: '127.0.0.1',
      ROUTER_TLS_CERT_FILE: tls.certFile,
      ROUTER_TLS_KEY_FILE: tls.keyFile,
    });
    try {
      const line = await router.listening;
      // Each token's namespaces are logged, never the token.
      expect(line).toMatchObject({ tls: true, auth: 'token', tokens: { token: '*' } });
      expect(JSON.stringify(line)).not.toContain(TOKEN);
      const http = Number(line['http']);
      const grpc = Number(line['grpc']);
      expect(await httpsGet(http, '/healthz', tls.ca())).toBe(200);
      const answered = await grpcStatus(grpc, credentials.createSsl(tls.ca()));
      expect(answered.code).toBe(status.UNAUTHENTICATED);
      expect(answered.metadata.get('sandbank-error-code')).toEqual(['unauthenticated']);

      for (const port of [http, grpc]) {
        const answer = await plaintextAnswer(port);
        expect({ port, answer }).toEqual({
          port,
          answer: expect.not.stringMatching(/HTTP\/1\.[01] \d{3}/) as unknown,
        });
      }
      const plaintextGrpc = await grpcStatus(grpc, credentials.createInsecure());
      expect(plaintextGrpc.code).toBe(status.UNAVAILABLE);
      expect(plaintextGrpc.metadata.get('sandbank-error-code')).toEqual([]);
    } finally {
      router.proc.kill('SIGKILL');
      await router.exit;
    }
  },
  TIMEOUT_MS,
);

test(
  'without a certificate, a bind beyond loopback is refused at startup and names the setting',
  async () => {
    // 192.0.2.1 (TEST-NET-1) is on no interface here: nothing is bound even if the check were missing
    const router = startMain({ ROUTER_HOST: '192.0.2.1' });
    const { code, stderr } = await router.exit;
    expect(code).toBe(2);
    expect(stderr).toMatch(/ROUTER_TLS_CERT_FILE: required/);
    expect(stderr).toMatch(/ROUTER_INSECURE_PLAINTEXT=true/);
  },
  TIMEOUT_MS,
);

test(
  'token-less port-forwards with a wildcard network bind: the process refuses to start, naming the setting',
  async () => {
    const router = startMain({
      ROUTER_HOST: '0.0.0.0',
      ROUTER_TLS_CERT_FILE: tls.certFile,
      ROUTER_TLS_KEY_FILE: tls.keyFile,
      ROUTER_PORTFORWARD_NAMESPACES: 'default',
    });
    const { code, stderr } = await router.exit;
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /ROUTER_PORTFORWARD_NAMESPACES: the network listener must not bind a wildcard address/,
    );
  },
  TIMEOUT_MS,
);
