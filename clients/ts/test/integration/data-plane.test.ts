/**
 * The data plane end to end: a real router (watch-fed resolution against the integration API
 * server) in front of a real agent process, with a claim, its Sandbox and a Ready Pod bound to the
 * agent's loopback address, as the controller binds them. Every call goes through the client's
 * own Commands, Files and Ports.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { integrationKubeConfig } from '@sandbank/e2e';
import { buildRouterApp, createClusterLookup, createLogger, noAuthenticator } from '@sandbank/router';
import type { RouterApp, SandboxLookup } from '@sandbank/router';
import { buildBundle, Changes, removeBundle, startAgentProcess, TestCluster } from '@sandbank/testing';
import type { AgentProcess } from '@sandbank/testing';
import type { RouterConnection, SandboxTarget } from '../../src/connection.js';
import { Commands, Files, NotFound, Ports } from '../../src/data-plane.js';

const kc = integrationKubeConfig();
const cluster = new TestCluster(kc, 'client-dp');
const ns = cluster.namespace;
const changes = new Changes();
const PREVIEW_KEYS = { signingKeyId: 'k', keys: new Map([['k', randomBytes(32)]]) };

let bundle: string;
let workspace: string;
let agent: AgentProcess;
let lookup: SandboxLookup;
let app: RouterApp;
let site: Server;
let conn: RouterConnection;
const target: SandboxTarget = { namespace: ns, claimName: 'sb-client', sandboxName: 'sb-client' };

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  await cluster.setUp();
  bundle = buildBundle();
  workspace = mkdtempSync(join(tmpdir(), 'sandbank-client-workspace-'));
  agent = await startAgentProcess(bundle, { SANDBANK_AGENT_WORKSPACE: workspace });
  // The sandbox's own web server, on a port its Pod declares.
  site = createServer((req, res) => {
    res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain' });
    res.end(`site saw ${req.method ?? ''} ${req.url ?? ''}`);
  });
  const sitePort = await listen(site);
  lookup = createClusterLookup({
    kc,
    namespaces: [ns],
    log: createLogger('silent'),
    onChange: changes.notify,
  });
  app = buildRouterApp({
    auth: noAuthenticator(),
    lookup,
    log: createLogger('silent'),
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
    previews: { keys: PREVIEW_KEYS },
  });
  const routerPort = await listen(app.server);
  const httpAgent = new Agent({ keepAlive: true });
  conn = {
    origin: new URL(`http://127.0.0.1:${routerPort}`),
    agent: httpAgent,
    headers: {},
    close: async () => httpAgent.destroy(),
  };
  await cluster.bindSandbox(target.claimName, '127.0.0.1', {}, undefined, [sitePort]);
  await changes.routable(lookup, { namespace: ns, name: target.claimName });
}, 120_000);

afterAll(async () => {
  await conn?.close();
  await app?.close();
  await lookup?.close();
  agent?.child.kill('SIGTERM');
  await agent?.exited;
  site?.close();
  if (workspace) rmSync(workspace, { recursive: true, force: true });
  if (bundle) removeBundle(bundle);
  await cluster.tearDown();
});

describe('commands', () => {
  test('run: exit code, both streams, stdin, env', async () => {
    const commands = new Commands(conn, target);
    const result = await commands.run('echo "out $GREETING"; cat; echo err >&2; exit 3', {
      stdin: 'from stdin\n',
      env: { GREETING: 'hello' },
    });
    expect(result).toMatchObject({
      exitCode: 3,
      stdout: 'out hello\nfrom stdin\n',
      stderr: 'err\n',
      timedOut: false,
      truncated: false,
    });
    const cut = await commands.run(['head', '-c', '5000', '/dev/zero'], { maxOutputBytes: 1000 });
    expect([cut.stdoutBytes.byteLength, cut.truncated]).toEqual([1000, true]);
    const slow = await commands.run(['sleep', '5'], { timeoutMs: 300 });
    expect(slow.timedOut).toBe(true);
  });

  test('spawn: streamed output, stdin with EOF, and a signal', async () => {
    const commands = new Commands(conn, target);
    const cat = await commands.spawn(['cat']);
    await cat.write('one ');
    await cat.write(new TextEncoder().encode('two'));
    await cat.end();
    let out = '';
    for await (const chunk of cat.stdout) out += Buffer.from(chunk).toString();
    expect(out).toBe('one two');
    expect((await cat.wait()).exitCode).toBe(0);

    const sleeper = await commands.spawn(['sleep', '30'], { stdin: false });
    await sleeper.signal('SIGTERM');
    const ended = await sleeper.wait();
    expect(ended.signal).toBe('SIGTERM');
  });

  test('spawn with a terminal: output as stdout, resize', async () => {
    const commands = new Commands(conn, target);
    const tty = await commands.spawn(['sh', '-c', 'read line; stty size'], { pty: { rows: 24, cols: 80 } });
    await tty.resize({ rows: 30, cols: 100 });
    await tty.write('go\r');
    const result = await tty.wait();
    expect(Buffer.from(result.stdout).toString()).toContain('30 100');
  });

  test('background: start, attach from an offset, wait, list, remove', async () => {
    const commands = new Commands(conn, target);
    const started = await commands.start(['sh', '-c', 'for i in 1 2 3; do echo line$i; done; echo oops >&2']);
    const attachment = await commands.attach(started.id);
    let out = '';
    for await (const chunk of attachment) out += Buffer.from(chunk.data).toString();
    expect(out.split('\n').filter(Boolean).sort()).toEqual(['line1', 'line2', 'line3', 'oops']);
    expect(attachment.exit?.exitCode).toBe(0);
    const resumed = await commands.attach(started.id, { fromOffset: 6, follow: false });
    let tail = '';
    for await (const chunk of resumed) tail += Buffer.from(chunk.data).toString();
    expect(tail).toBe(out.slice(6));
    expect((await commands.wait(started.id, { timeoutMs: 10_000 })).state).toBe('exited');
    expect((await commands.list()).map((p) => p.id)).toContain(started.id);
    await commands.remove(started.id);
    await expect(commands.get(started.id)).rejects.toBeInstanceOf(NotFound);

    const reader = await commands.start(['sh', '-c', 'read x; echo got $x'], { stdin: true });
    await commands.writeStdin(reader.id, 'typed\n', { close: true });
    const done = await commands.wait(reader.id, { timeoutMs: 10_000 });
    expect(done.exit?.exitCode).toBe(0);
  });

  test('a sandbox that does not exist is NotFound', async () => {
    const missing = new Commands(conn, { ...target, claimName: 'nope', sandboxName: 'nope' });
    await expect(missing.run('true')).rejects.toBeInstanceOf(NotFound);
  });
});

describe('files', () => {
  test('a streamed write and read of 3 MiB, byte for byte', async () => {
    const files = new Files(conn, target);
    const chunks = Array.from({ length: 48 }, (_, i) => randomBytes(64 << 10).fill(i, 0, 1));
    const digest = createHash('sha256');
    for (const chunk of chunks) digest.update(chunk);
    const info = await files.write('data/big.bin', Readable.from(chunks));
    expect(info.size).toBe(48 * (64 << 10));
    const read = await files.read('data/big.bin');
    const back = createHash('sha256');
    for await (const chunk of read.stream) back.update(chunk);
    expect(back.digest('hex')).toBe(digest.digest('hex'));
    expect(read.size).toBe(info.size);
  });

  test('text, list, stat, mkdir, exists, remove', async () => {
    const files = new Files(conn, target);
    await files.mkdir('notes/deep', { parents: true });
    await files.write('notes/deep/a.txt', 'héllo', { mode: 0o600 });
    expect(await files.readText('notes/deep/a.txt')).toBe('héllo');
    expect(await files.readText('notes/deep/a.txt', { offset: 1, limit: 2 })).toBe('é');
    expect((await files.list('notes/deep')).map((e) => e.name)).toEqual(['a.txt']);
    expect((await files.list('.')).map((e) => e.name)).toContain('notes');
    const stat = await files.stat('notes/deep/a.txt');
    expect([stat.type, stat.size, stat.mode & 0o777]).toEqual(['file', 6, 0o600]);
    expect(await files.exists('notes/deep/a.txt')).toBe(true);
    await files.remove('notes', { recursive: true });
    expect(await files.exists('notes/deep/a.txt')).toBe(false);
  });
});

describe('ports', () => {
  test("a request reaches the sandbox's server; its own 404 is a response", async () => {
    const ports = new Ports(conn, target);
    const sitePort = (site.address() as AddressInfo).port;
    const ok = await ports.request(sitePort, { path: '/hello?x=1' });
    expect([ok.status, await ok.text()]).toEqual([200, 'site saw GET /hello?x=1']);
    const missing = await ports.request(sitePort, { path: '/missing' });
    expect(missing.status).toBe(404);
  });

  test('a preview link opens the port without credentials', async () => {
    const ports = new Ports(conn, target);
    const sitePort = (site.address() as AddressInfo).port;
    const link = await ports.preview(sitePort, { ttlSeconds: 60 });
    expect(link.expiresAt.getTime()).toBeGreaterThan(Date.now());
    const page = await fetch(`${link.url}page`);
    expect(await page.text()).toBe('site saw GET /page');
  });
});
