/**
 * A hostile agent behind the router, one scripted answer at a time (the generated run over many
 * such answers is hostile-upstream-fuzz.test.ts): each answer here once made the
 * router misbehave, and each test fails without its fix.
 */
import { Agent, request } from 'node:http';
import { jest } from '@jest/globals';
import { credentials, Metadata } from '@grpc/grpc-js';
import { FileType, createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import type { AgentPromiseClient } from '@sandbank/proto';
import { startHostileAgent } from '../helpers/hostile-agent.js';
import type { AgentScript, HostileAgent, ScriptedFileInfo } from '../helpers/hostile-agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

// A legacy /list of 1,000 symlinks makes 1,000 Stat calls: on a loaded 2-core machine that took
// close to Jest's default 5 s.
jest.setTimeout(60_000);

let hostileGrpc: HostileAgent;
let router: TestRouter;
let passthrough: AgentPromiseClient;

beforeAll(async () => {
  hostileGrpc = await startHostileAgent('127.0.0.72', { defaultDelayMs: 5 });
  router = await startRouter({
    lookup: staticLookup([
      { namespace: 'default', name: 'hostile-grpc', ip: hostileGrpc.ip, protocol: 'grpc' },
    ]),
    agentPorts: { grpcPort: hostileGrpc.port },
  });
  passthrough = createAgentPromiseClient(createAgentClient(router.grpcAddress, credentials.createInsecure()));
});

afterAll(async () => {
  await router?.close();
  await hostileGrpc?.close();
});

/** A ReadFile answer: well-formed messages of these sizes (each declares its size as the file's). */
const readFileAnswer = (...sizes: number[]): AgentScript => ({
  status: 200,
  contentType: 'application/grpc',
  trailersOnly: false,
  frames: sizes.map((size) => ({ kind: 'reply' as const, size })),
  grpcStatus: '0',
  grpcMessage: undefined,
  ending: 'trailers',
});

const download = (): Promise<Response> =>
  fetch(`${router.url}/download/x`, { headers: { 'x-sandbox-id': 'hostile-grpc' } });

/** The router is still there for the next download. */
async function expectNextDownloadWorks(): Promise<void> {
  hostileGrpc.push(readFileAnswer(10));
  const next = await download();
  expect([next.status, (await next.arrayBuffer()).byteLength]).toEqual([200, 10]);
}

// A file's size as the agent declares it becomes the Content-Length: what the agent then sends
// must not break that promise into a hang or into more bytes than promised.
test('a legacy download whose agent sends more bytes than it declared gets the declared bytes only', async () => {
  hostileGrpc.reset();
  hostileGrpc.push(readFileAnswer(1_000, 500));
  const res = await download();
  expect([res.status, (await res.arrayBuffer()).byteLength]).toEqual([200, 1_000]);
  await expectNextDownloadWorks();
});

// Before the fix the router ended the short response as if complete and the client waited for
// the promised bytes until its timeout.
test('a legacy download whose agent sends fewer bytes than it declared gets its status, then a cut body', async () => {
  hostileGrpc.reset();
  hostileGrpc.push(readFileAnswer(2 * 1024 * 1024));
  const res = await download();
  expect(res.status).toBe(200);
  await expect(res.arrayBuffer()).rejects.toThrow();
  await expectNextDownloadWorks();
});

test('a legacy /list of 1,000 symlinks keeps at most 16 Stat calls in flight', async () => {
  hostileGrpc.reset();
  hostileGrpc.push({
    status: 200,
    contentType: 'application/grpc',
    trailersOnly: false,
    frames: [{ kind: 'reply', size: 1_000 }],
    grpcStatus: '0',
    grpcMessage: undefined,
    ending: 'trailers',
  });
  const res = await fetch(`${router.url}/list/d`, { headers: { 'x-sandbox-id': 'hostile-grpc' } });
  const text = await res.text();
  expect([res.status, text.slice(0, 200)]).toEqual([200, expect.any(String)]);
  expect((JSON.parse(text) as unknown[]).length).toBe(1_000);
  expect(hostileGrpc.maxStatsInFlight).toBeGreaterThan(0);
  expect(hostileGrpc.maxStatsInFlight).toBeLessThanOrEqual(16);
});

test("a reply grpc-js fails without a status code (a compressed frame, no grpc-encoding) is the agent's failure, not the router's", async () => {
  const compressed: AgentScript = {
    status: 200,
    contentType: 'application/grpc',
    trailersOnly: false,
    frames: [{ kind: 'compressed', size: 8 }],
    grpcStatus: '0',
    grpcMessage: undefined,
    ending: 'trailers',
  };
  hostileGrpc.reset();
  hostileGrpc.push(compressed);
  const v1 = await fetch(`${router.url}/v1/namespaces/default/sandboxes/hostile-grpc/stat?path=x`);
  expect([v1.status, v1.headers.get('x-sandbank-error-code')]).toEqual([502, 'upstream_failed']);
  expect(((await v1.json()) as { error: { message: string } }).error.message).toMatch(/malformed reply/);

  hostileGrpc.push(compressed);
  const legacy = await fetch(`${router.url}/exists/x`, { headers: { 'x-sandbox-id': 'hostile-grpc' } });
  expect(legacy.headers.get('x-sandbank-error-code')).not.toBe('internal');
  expect(legacy.status).toBeLessThan(500);

  hostileGrpc.push(compressed);
  const md = new Metadata();
  md.set('x-sandbox-id', 'hostile-grpc');
  const failure = (await passthrough.stat({ path: 'x' }, { metadata: md }).then(
    () => undefined,
    (e: unknown) => e,
  )) as { code?: number; details?: string; metadata?: Metadata } | undefined;
  expect(failure?.code).toBe(2); // UNKNOWN: relayed as the agent's, with a code a server can send
  expect(failure?.details).toMatch(/malformed reply/);
  expect(failure?.metadata?.get('sandbank-error-code')).toEqual([]);
});

/** A GET on `agent`'s connections, read to its end (or its cut). */
function getOn(
  agent: Agent,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; bytes: number; complete: boolean; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(`${router.url}${path}`, { agent, headers }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('error', () => undefined);
      res.on('close', () =>
        resolve({ status: res.statusCode ?? 0, bytes, complete: res.complete, reused: req.reusedSocket }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** The two routes that stream a file from the agent: [surface, path, headers]. */
const DOWNLOADS: [string, string, Record<string, string>][] = [
  ['v1', '/v1/namespaces/default/sandboxes/hostile-grpc/files/x', {}],
  ['legacy', '/download/x', { 'x-sandbox-id': 'hostile-grpc' }],
];

const hanging = (script: AgentScript): AgentScript => ({ ...script, ending: 'hang' });

// The whole file the agent declared has gone out; the agent then says nothing more. The client
// has its complete response and sends its next request on the same connection: the router must
// answer it, not time the finished download out later and reset the connection under it.
test.each(DOWNLOADS)(
  'a %s download complete at its declared size ends there: the next request on the connection is answered',
  async (_surface, path, headers) => {
    hostileGrpc.reset();
    hostileGrpc.push(hanging(readFileAnswer(1_000)));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await getOn(agent, path, { ...headers, 'x-sandbox-timeout': '2' });
      expect(first).toMatchObject({ status: 200, bytes: 1_000, complete: true });
      const next = await getOn(agent, '/healthz');
      expect(next).toMatchObject({ status: 200, complete: true, reused: true });
    } finally {
      agent.destroy();
    }
  },
);

const emptyMessageThen = (ending: AgentScript['ending'], status = 200): AgentScript => ({
  status,
  contentType: 'application/grpc',
  trailersOnly: false,
  // A zero-length message: a ReadFile reply with no file info and no data.
  frames: [{ kind: 'lie', claimed: 0, actual: 0 }],
  grpcStatus: '14',
  grpcMessage: undefined,
  ending,
});

// Before: the router took the empty message for an empty file (writeHead, Content-Length 0, but
// nothing sent), then the call failed and the response was destroyed: the client got no answer.
test.each(DOWNLOADS)(
  "a %s download whose agent's first reply has no file info gets the router's 502",
  async (_surface, path, headers) => {
    for (const script of [
      emptyMessageThen('rst'),
      emptyMessageThen('trailers'),
      // What the fuzz run found: HTTP 404, an empty message, then bytes that are no message.
      {
        ...emptyMessageThen('trailers', 404),
        frames: [
          { kind: 'lie' as const, claimed: 0, actual: 26 },
          { kind: 'reply' as const, size: 137 },
        ],
      },
    ]) {
      hostileGrpc.reset();
      hostileGrpc.push(script);
      const res = await fetch(`${router.url}${path}`, { headers });
      expect([res.status, res.headers.get('x-sandbank-error-code')]).toEqual([502, 'upstream_failed']);
      expect(await res.text()).toMatch(/file info/);
    }
  },
);

// An empty file is complete the moment its status goes out: what the agent does next cannot
// take the answer back.
test.each(DOWNLOADS)(
  'a %s download of an empty file whose agent then resets gets the empty file',
  async (_s, path, headers) => {
    hostileGrpc.reset();
    hostileGrpc.push({ ...readFileAnswer(0), ending: 'rst' });
    const res = await fetch(`${router.url}${path}`, { headers });
    expect([res.status, (await res.arrayBuffer()).byteLength]).toEqual([200, 0]);
  },
);

/** A successful answer of one message describing a file with these fields. */
const infoAnswer = (info: ScriptedFileInfo): AgentScript => ({
  status: 200,
  contentType: 'application/grpc',
  trailersOnly: false,
  frames: [{ kind: 'info', info }],
  grpcStatus: '0',
  grpcMessage: undefined,
  ending: 'trailers',
});

const V1 = '/v1/namespaces/default/sandboxes/hostile-grpc';
const LEGACY = { 'x-sandbox-id': 'hostile-grpc' };

/** Every surface that turns an agent's FileInfo into its own answer. */
const FILE_INFO_SURFACES: ReadonlyArray<readonly [string, string, Record<string, string>]> = [
  ['v1 stat', `${V1}/stat?path=x`, {}],
  ['v1 list', `${V1}/list?path=d`, {}],
  ['v1 download', `${V1}/files/x`, {}],
  ['legacy /list', '/list/d', LEGACY],
  ['legacy /download', '/download/x', LEGACY],
];

// A protobuf Timestamp runs from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z with
// nanos 0..999,999,999: all a JS Date holds and RFC 3339 prints. Before: 10^15 s made
// toISOString throw (500 internal); the others were printed as a different time, or as
// "+010000-…", which is no RFC 3339 date-time.
const BAD_MOD_TIMES: ReadonlyArray<{ seconds: bigint; nanos: number }> = [
  { seconds: 10n ** 15n, nanos: 0 },
  { seconds: -(10n ** 15n), nanos: 0 },
  { seconds: 253_402_300_800n, nanos: 0 }, // 10000-01-01
  { seconds: -62_135_596_801n, nanos: 0 }, // 0000-12-31
  { seconds: 0n, nanos: 1_000_000_000 },
  { seconds: 0n, nanos: -1 },
];

test.each(FILE_INFO_SURFACES)(
  "a %s whose agent sends a modTime out of a Timestamp's range gets the router's 502 upstream_failed",
  async (_surface, path, headers) => {
    for (const modTime of BAD_MOD_TIMES) {
      hostileGrpc.reset();
      hostileGrpc.push(infoAnswer({ size: 10n, modTime }));
      const res = await fetch(`${router.url}${path}`, { headers });
      const body = await res.text();
      expect([modTime, res.status, res.headers.get('x-sandbank-error-code')]).toEqual([
        modTime,
        502,
        'upstream_failed',
      ]);
      expect(body).toMatch(/modTime/);
    }
  },
);

// The other numbers of a FileInfo: a size JSON cannot hold exactly, permission bits that are
// not permission bits, a type the protocol does not have. Before: printed as 2^53 (a size the
// file does not have), as given, and as no type at all.
test.each(FILE_INFO_SURFACES)(
  "a %s whose agent sends a size, mode or type out of the protocol's range gets the router's 502",
  async (_surface, path, headers) => {
    const bad: ReadonlyArray<readonly [string, ScriptedFileInfo]> = [
      ['size', { size: 2n ** 53n + 1n }],
      ['mode', { size: 10n, mode: 0o100644 }],
      ['type', { size: 10n, type: 99 }],
    ];
    for (const [field, info] of bad) {
      hostileGrpc.reset();
      hostileGrpc.push(infoAnswer(info));
      const res = await fetch(`${router.url}${path}`, { headers });
      const body = await res.text();
      expect([field, res.status, res.headers.get('x-sandbank-error-code')]).toEqual([
        field,
        502,
        'upstream_failed',
      ]);
      expect(body).toMatch(new RegExp(field));
    }
  },
);

// The first and last instants of a Timestamp are valid and print as RFC 3339. Before: the last
// was rounded up to the millisecond, into the year 10000 ("+010000-01-01T00:00:00.000Z").
test('a v1 stat prints the first and last instants of a Timestamp as RFC 3339 date-times', async () => {
  const edges = [
    [{ seconds: -62_135_596_800n, nanos: 0 }, '0001-01-01T00:00:00.000Z'],
    [{ seconds: 253_402_300_799n, nanos: 999_999_999 }, '9999-12-31T23:59:59.999Z'],
  ] as const;
  for (const [modTime, printed] of edges) {
    hostileGrpc.reset();
    hostileGrpc.push(infoAnswer({ size: 2n ** 53n - 1n, mode: 0o7777, modTime }));
    const res = await fetch(`${router.url}${V1}/stat?path=x`);
    expect([res.status, await res.json()]).toEqual([
      200,
      { name: 'x', path: 'x', size: 2 ** 53 - 1, type: 'file', mode: 0o7777, modTime: printed },
    ]);
  }
});

// A legacy /list describes a symlink by its target's Stat: an invalid Stat answer is the agent's
// failure too, not a dangling link to describe as itself.
test("a legacy /list whose symlink's Stat answer has a modTime out of range gets the router's 502", async () => {
  hostileGrpc.reset();
  hostileGrpc.push(
    infoAnswer({ type: FileType.SYMLINK }),
    infoAnswer({ size: 10n, modTime: { seconds: 10n ** 15n, nanos: 0 } }),
  );
  const res = await fetch(`${router.url}/list/d`, { headers: LEGACY });
  expect([res.status, res.headers.get('x-sandbank-error-code')]).toEqual([502, 'upstream_failed']);
  expect(await res.text()).toMatch(/info\.modTime\.seconds/);
});

// Before: a Stat answer without its info was printed as a nameless file of size 0 (200).
test("a v1 stat whose agent answers without the file info gets the router's 502", async () => {
  hostileGrpc.reset();
  hostileGrpc.push({ ...emptyMessageThen('trailers'), grpcStatus: '0' });
  const res = await fetch(`${router.url}${V1}/stat?path=x`);
  expect([res.status, res.headers.get('x-sandbank-error-code')]).toEqual([502, 'upstream_failed']);
  expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
    /^the sandbox agent sent an invalid file info: info: /,
  );
});
