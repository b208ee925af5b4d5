/**
 * `sandbank mcp` driven by the MCP SDK's own Client against the real stack (controller, router with
 * token auth, agent; testing/src/client-stack.ts): the tools in memory, the stdio transport as a
 * process of its own, and streamable HTTP on a free port. Each session's claim appears at its first
 * tool call and is deleted when the session ends: stdin closed, HTTP DELETE, stop, or idleness.
 */
import { fileURLToPath } from 'node:url';
import { PassThrough, type Readable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { repoRoot } from '@sandbank/e2e';
import { startClientStack, type ClientStack } from '@sandbank/testing';
import { Sandbox } from '@sandbank/client';
import { runMcp } from '../../src/mcp/index.js';
import { createSessionServer, type SessionServer } from '../../src/mcp/server.js';
import { OUTPUT_CAP_BYTES, READ_CAP_BYTES } from '../../src/mcp/tools.js';
import { claimGone } from './claims.js';

let stack: ClientStack;
const MCP_TOKEN = 'mcp-test-token-0123456789abcdef';

beforeAll(async () => {
  stack = await startClientStack();
}, 240_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

const gone = (name: string): Promise<unknown> => claimGone(stack.namespace, name);

async function liveClaims(): Promise<string[]> {
  const claims = await Sandbox.list({ kubeconfig: stack.kubeconfigPath, namespace: stack.namespace });
  return claims.filter((c) => c.state !== 'Deleting').map((c) => c.name);
}

const serverArgs = (): string[] => [
  '--pool',
  stack.pool,
  '--namespace',
  stack.namespace,
  '--router-url',
  stack.routerUrl,
  '--kubeconfig',
  stack.kubeconfigPath,
];

/** Resolves with the first match of `pattern` in what `stream` writes from now on. */
function nextMatch(stream: Readable, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer | string): void => {
      seen = (seen + chunk.toString()).slice(-8_192);
      const match = pattern.exec(seen);
      if (!match) return;
      stream.off('data', onData);
      resolve(match);
    };
    stream.on('data', onData);
    stream.once('end', () => reject(new Error(`stream ended without ${pattern.source}; saw:\n${seen}`)));
  });
}

/** The value, which the test needs to exist. */
function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what}: missing`);
  return value;
}

function textOf(result: unknown): string {
  const { content } = result as CallToolResult;
  return content.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

describe('the tools (in-memory transport)', () => {
  let served: SessionServer;
  let client: Client;
  const logs: string[] = [];

  beforeAll(async () => {
    served = createSessionServer({
      claim: {
        pool: stack.pool,
        namespace: stack.namespace,
        routerUrl: stack.routerUrl,
        kubeconfig: stack.kubeconfigPath,
        token: stack.token,
      },
      idleTimeoutMs: 60_000,
      log: (line) => logs.push(line),
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await served.server.connect(serverSide);
    client = new Client({ name: 'mcp-test', version: '1' });
    await client.connect(clientSide);
  });

  afterAll(async () => {
    await client?.close();
    await served?.session.close();
  });

  const call = (name: string, args: Record<string, unknown>): Promise<CallToolResult> =>
    client.callTool({ name, arguments: args }) as Promise<CallToolResult>;

  test('lists the five tools, each with an input schema; nothing is claimed until a tool runs', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'list_directory',
      'preview_port',
      'read_file',
      'run_command',
      'write_file',
    ]);
    for (const tool of tools) expect(tool.inputSchema.type).toBe('object');
    expect(await served.session.claimName()).toBeUndefined();
  });

  test('run_command runs argv and shell strings with stdin, cwd and env in one claimed sandbox', async () => {
    const echoed = await call('run_command', { command: ['echo', 'hello'] });
    await call('run_command', { command: ['mkdir', '-p', 'sub'] });
    expect(echoed.isError).toBeFalsy();
    expect(textOf(echoed)).toContain('exit code 0');
    expect(echoed.structuredContent).toMatchObject({ exitCode: 0, stdout: 'hello\n', truncated: false });
    const claim = await served.session.claimName();
    expect(claim).toBeDefined();
    expect(await liveClaims()).toContain(claim);

    const shell = await call('run_command', {
      command: 'cat; echo "$GREETING from $(basename "$(pwd)")" >&2; exit 3',
      stdin: 'piped in',
      env: { GREETING: 'hi' },
      cwd: 'sub',
    });
    expect(shell.structuredContent).toMatchObject({
      exitCode: 3,
      stdout: 'piped in',
      stderr: 'hi from sub\n',
    });
    // The same sandbox serves every call of the session.
    expect(await served.session.claimName()).toBe(claim);
  });

  test('run_command cuts output at its cap and says so', async () => {
    const big = await call('run_command', {
      command: `head -c ${OUTPUT_CAP_BYTES * 2} /dev/zero | tr '\\0' a`,
    });
    expect(big.structuredContent).toMatchObject({ exitCode: 0, truncated: true });
    expect((big.structuredContent as { stdout: string }).stdout).toHaveLength(OUTPUT_CAP_BYTES);
    expect(textOf(big)).toContain(`stdout (truncated to the first ${OUTPUT_CAP_BYTES} bytes)`);
  });

  test('write_file, read_file and list_directory', async () => {
    const wrote = await call('write_file', { path: 'mcp/notes.txt', content: 'héllo\n', mode: '600' });
    expect(textOf(wrote)).toBe('wrote 7 bytes to mcp/notes.txt');
    expect(textOf(await call('read_file', { path: 'mcp/notes.txt' }))).toBe('héllo\n');
    const listed = textOf(await call('list_directory', { path: 'mcp' }));
    expect(listed).toMatch(/^file\s+7 {2}notes\.txt$/m);
    const mode = await call('run_command', { command: ['stat', '-c', '%a', 'mcp/notes.txt'] });
    expect(mode.structuredContent).toMatchObject({ stdout: '600\n' });
  });

  test('read_file pages a file larger than its cap', async () => {
    const size = READ_CAP_BYTES + 10;
    await call('write_file', { path: 'mcp/big.txt', content: 'x'.repeat(size) });
    const first = textOf(await call('read_file', { path: 'mcp/big.txt' }));
    expect(first).toContain(
      `--- truncated: bytes 0-${READ_CAP_BYTES} of ${size}; call again with offset ${READ_CAP_BYTES} ---`,
    );
    expect(textOf(await call('read_file', { path: 'mcp/big.txt', offset: READ_CAP_BYTES }))).toBe(
      'x'.repeat(10),
    );
  });

  test('preview_port mints a signed link on the router', async () => {
    const preview = await call('preview_port', { port: 8080, ttlSeconds: 60 });
    expect(preview.isError).toBeFalsy();
    expect(preview.structuredContent).toMatchObject({
      port: 8080,
      url: expect.stringMatching(new RegExp(`^${stack.routerUrl}/v1/previews/`)),
    });
  });

  test('bad input is an isError result naming the field; a failing call leaves the session usable', async () => {
    const badCommand = await call('run_command', { command: 42 });
    expect(badCommand.isError).toBe(true);
    expect(textOf(badCommand)).toMatch(/command/);
    const badPort = await call('preview_port', { port: 70_000 });
    expect(badPort.isError).toBe(true);
    expect(textOf(badPort)).toMatch(/port/);
    const badMode = await call('write_file', { path: 'x', content: '', mode: 'rw' });
    expect(textOf(badMode)).toMatch(/mode/);
    const missing = await call('read_file', { path: 'mcp/no-such-file' });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/no-such-file|not found|no such file/i);
    const after = await call('run_command', { command: ['true'] });
    expect(after.structuredContent).toMatchObject({ exitCode: 0 });
  });

  test('closing the session deletes its claim', async () => {
    const claim = defined(await served.session.claimName(), 'claim');
    await served.session.close();
    await gone(claim);
    expect(logs).toContain(`claim ${stack.namespace}/${claim} created`);
  });
});

test('an idle session loses its claim; its next call runs in a fresh sandbox and is told so', async () => {
  const served = createSessionServer({
    claim: {
      pool: stack.pool,
      namespace: stack.namespace,
      routerUrl: stack.routerUrl,
      kubeconfig: stack.kubeconfigPath,
      token: stack.token,
    },
    idleTimeoutMs: 1_000,
    log: () => undefined,
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await served.server.connect(serverSide);
  const client = new Client({ name: 'mcp-test', version: '1' });
  await client.connect(clientSide);
  try {
    await client.callTool({ name: 'run_command', arguments: { command: ['true'] } });
    const first = defined(await served.session.claimName(), 'claim');
    await gone(first);
    const again = await client.callTool({ name: 'run_command', arguments: { command: ['echo', 'back'] } });
    expect(textOf(again)).toContain(`claim ${first} was deleted while idle`);
    expect(again.structuredContent).toMatchObject({ stdout: 'back\n' });
    expect(await served.session.claimName()).not.toBe(first);
  } finally {
    await client.close();
    await served.session.close();
  }
});

test('stdio: the server as a process claims at the first call and deletes the claim when the host closes it', async () => {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      '--import',
      'tsx',
      '--conditions=source',
      fileURLToPath(new URL('mcp-main.ts', import.meta.url)),
      ...serverArgs(),
    ],
    cwd: repoRoot,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      SANDBANK_ROUTER_TOKEN: stack.token,
    },
    stderr: 'pipe',
  });
  const stderr = transport.stderr as Readable;
  const created = nextMatch(stderr, /claim [^/\s]+\/(\S+) created/);
  let said = '';
  stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const exited = new Promise<void>((resolve) => stderr.once('end', resolve));
  const client = new Client({ name: 'mcp-test', version: '1' });
  await client.connect(transport);
  const result = await client.callTool({ name: 'run_command', arguments: { command: 'echo from $0' } });
  expect(result.structuredContent).toMatchObject({ exitCode: 0, stdout: 'from /bin/sh\n' });
  const claim = defined((await created)[1], 'claim name');
  expect(await liveClaims()).toContain(claim);
  await client.close();
  await exited;
  await gone(claim);
  // Ended by the closed pipe, not by the SIGTERM a host sends a server that lingers.
  expect(said).toContain('the host closed stdin: ending the session');
  expect(said).not.toContain('SIGTERM');
}, 60_000);

test('streamable HTTP: bearer token, bounded sessions, DELETE and stop delete the claims', async () => {
  const stderr = new PassThrough();
  const stop = new AbortController();
  const listening = nextMatch(stderr, /listening on (http:\S+)/);
  const running = runMcp([...serverArgs(), '--http', '0', '--max-sessions', '1'], {
    stdin: new PassThrough(),
    stdout: new PassThrough(),
    stderr,
    env: { SANDBANK_ROUTER_TOKEN: stack.token, SANDBANK_MCP_TOKEN: MCP_TOKEN },
    signal: stop.signal,
  });
  const url = new URL(defined((await listening)[1], 'url'));
  expect(url.hostname).toBe('127.0.0.1');
  const auth = { headers: { authorization: `Bearer ${MCP_TOKEN}` } };
  const connect = async (): Promise<[Client, StreamableHTTPClientTransport]> => {
    const transport = new StreamableHTTPClientTransport(url, { requestInit: auth });
    const client = new Client({ name: 'mcp-test', version: '1' });
    await client.connect(transport);
    return [client, transport];
  };
  const claimOf = async (client: Client): Promise<string> => {
    const created = nextMatch(stderr, /claim [^/\s]+\/(\S+) created/);
    const ran = await client.callTool({ name: 'run_command', arguments: { command: ['echo', 'over http'] } });
    expect(ran.structuredContent).toMatchObject({ stdout: 'over http\n' });
    return defined((await created)[1], 'claim name');
  };

  const unauthorized = await fetch(url, {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  expect(unauthorized.status).toBe(401);
  const tooBig = await fetch(url, {
    method: 'POST',
    body: 'x'.repeat(7 << 20),
    headers: {
      ...auth.headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
  });
  expect(tooBig.status).toBe(413);

  const [first, firstTransport] = await connect();
  // The bound: one session at a time.
  await expect(connect()).rejects.toThrow(/too many sessions/);
  const firstClaim = await claimOf(first);
  expect(await liveClaims()).toContain(firstClaim);
  await firstTransport.terminateSession();
  await gone(firstClaim);

  // DELETE gave the slot back; a stop ends the open session and deletes its claim.
  const [second] = await connect();
  const secondClaim = await claimOf(second);
  stop.abort();
  expect(await running).toBe(0);
  await gone(secondClaim);
  await first.close();
  await second.close();
}, 60_000);

test('streamable HTTP without $SANDBANK_MCP_TOKEN: a token made for the run is required; an idle session ends, its claim is deleted and its slot is free again', async () => {
  const stderr = new PassThrough();
  const stop = new AbortController();
  const listening = nextMatch(stderr, /listening on (http:\S+)/);
  const generated = nextMatch(stderr, /bearer token for this run .*: (\S+)$/m);
  const running = runMcp([...serverArgs(), '--http', '0', '--max-sessions', '1', '--idle-timeout', '1'], {
    stdin: new PassThrough(),
    stdout: new PassThrough(),
    stderr,
    env: { SANDBANK_ROUTER_TOKEN: stack.token },
    signal: stop.signal,
  });
  const url = new URL(defined((await listening)[1], 'url'));
  const token = defined((await generated)[1], 'generated token');
  // Another local user, who reaches loopback too but has not seen the token, is refused.
  const stranger = new Client({ name: 'stranger', version: '1' });
  await expect(stranger.connect(new StreamableHTTPClientTransport(url))).rejects.toThrow(/401|unauthorized/i);
  const connect = async (): Promise<Client> => {
    const client = new Client({ name: 'mcp-test', version: '1' });
    const requestInit = { headers: { authorization: `Bearer ${token}` } };
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit }));
    return client;
  };
  const client = await connect();
  const created = nextMatch(stderr, /claim [^/\s]+\/(\S+) created/);
  await client.callTool({ name: 'run_command', arguments: { command: ['true'] } });
  const claim = defined((await created)[1], 'claim name');
  await gone(claim);
  await expect(client.callTool({ name: 'run_command', arguments: { command: ['true'] } })).rejects.toThrow(
    /session not found/,
  );
  const next = await connect();
  stop.abort();
  expect(await running).toBe(0);
  await client.close();
  await next.close();
}, 60_000);
