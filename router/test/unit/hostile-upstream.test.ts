/**
 * A sandbox's server answers the router's port proxy with bytes no HTTP server should send: a
 * status outside 100–599, a 1xx as the final answer, 1xx storms, huge or invalid headers, resets
 * mid-body, trickles. Each ends that one request (502 with the router's error body before any
 * byte was forwarded, a cut response after), with a log line and a metric; the router process
 * stays up and another tenant's exec, running meanwhile, is unaffected.
 */
import { Writable } from 'node:stream';
import { jest } from '@jest/globals';
import { pino } from 'pino';
import { MAX_INFORMATIONAL } from '../../src/http/proxy.js';
import { noAuthenticator } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { startHostileUpstream } from '../helpers/hostile-upstream.js';
import type { HostileUpstream, Script } from '../helpers/hostile-upstream.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

jest.setTimeout(120_000);

let hostile: HostileUpstream;
let agent: TestAgent;
let router: TestRouter;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  hostile = await startHostileUpstream('127.0.0.41');
  agent = await startAgent({ ip: '127.0.0.42', grpcPort: 0 });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  router = await startRouter({
    lookup: staticLookup([
      { namespace: 'default', name: 'hostile', ip: hostile.ip, protocol: 'http' },
      { namespace: 'default', name: 'good', ip: agent.ip },
    ]),
    auth: noAuthenticator(),
    log: pino({ level: 'warn' }, sink),
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
    limits: { requestTimeoutMs: 60_000 },
  });
});

afterAll(async () => {
  await router?.close();
  await agent?.close();
  await hostile?.close();
});

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  /** The body, or the error reading it (a cut response). */
  readonly body: string | Error;
}

/** One request through the port proxy to the hostile pod, answered with `script`. */
async function proxied(script: Script, headers: Record<string, string> = {}): Promise<Answer> {
  const id = hostile.register(script);
  const res = await fetch(`${router.url}/script/${id}`, {
    headers: { 'x-sandbox-id': 'hostile', 'x-sandbox-port': String(hostile.port), ...headers },
    signal: AbortSignal.timeout(60_000),
  });
  let body: string | Error;
  try {
    body = await res.text();
  } catch (error) {
    body = error instanceof Error ? error : new Error(String(error));
  }
  return { status: res.status, headers: res.headers, body };
}

/** A 502 with the router's own legacy error body, and nothing of the pod's. */
function expectRouter502(a: Answer): void {
  expect(a.status).toBe(502);
  expect(a.headers.get('x-sandbank-error-code')).toBe('upstream_failed');
  expect(typeof a.body === 'string' ? JSON.parse(a.body) : a.body).toEqual({
    detail: expect.stringMatching(/hostile/) as unknown,
  });
}

/** The other tenant: a real agent's exec through the router, taking a while. */
async function goodExec(text: string): Promise<void> {
  const res = await fetch(`${router.url}/v1/namespaces/default/sandboxes/good/exec`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ shell: `sleep 0.3; printf %s ${text}` }),
    signal: AbortSignal.timeout(60_000),
  });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { stdout: string }).stdout).toBe(text);
}

// connection: close, so the router never reuses a socket this server is about to close.
const ok = 'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok';

const badStatus: [string, Script][] = [
  ['HTTP/1.1 099', [{ write: 'HTTP/1.1 099 Low\r\ncontent-length: 2\r\n\r\nhi' }]],
  ['HTTP/1.1 000', [{ write: 'HTTP/1.1 000 Zero\r\ncontent-length: 2\r\n\r\nhi' }]],
  [
    '102 then 099',
    [
      { write: 'HTTP/1.1 102 Processing\r\n\r\n' },
      { write: 'HTTP/1.1 099 Low\r\ncontent-length: 0\r\n\r\n' },
    ],
  ],
  ['HTTP/1.1 600', [{ write: 'HTTP/1.1 600 High\r\ncontent-length: 2\r\n\r\nhi' }]],
  ['HTTP/1.1 999', [{ write: 'HTTP/1.1 999 Max\r\ncontent-length: 2\r\n\r\nhi' }]],
  [
    '101 as the final answer',
    [{ write: 'HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\nzz' }, { end: true }],
  ],
];

describe('a hostile upstream status line', () => {
  test.each(badStatus)('%s: 502 with the router error body, the router stays up', async (_name, script) => {
    const other = goodExec('alive');
    expectRouter502(await proxied(script));
    await other;
    // The same router still proxies a sane answer.
    const fine = await proxied([{ write: ok }]);
    expect([fine.status, fine.body]).toEqual([200, 'ok']);
  });

  test('each refusal is logged and counted by reason', async () => {
    const before = logLines.length;
    expectRouter502(await proxied([{ write: 'HTTP/1.1 099 Low\r\ncontent-length: 0\r\n\r\n' }]));
    const line = logLines.slice(before).find((l) => l['msg'] === 'upstream response refused');
    expect(line).toMatchObject({ reason: 'bad_status', status: 99, sandbox: 'default/hostile' });
    const text = await router.app.metrics.registry.metrics();
    expect(text).toMatch(/sandbank_router_upstream_rejected_total\{reason="bad_status"\} [1-9]/);
  });
});

describe('hostile upstream headers and bodies', () => {
  test('a few 1xx answers before a 200 are skipped', async () => {
    const a = await proxied([
      { write: 'HTTP/1.1 100 Continue\r\n\r\n' },
      { repeat: 'HTTP/1.1 103 Early Hints\r\nlink: </x>; rel=preload\r\n\r\n', times: MAX_INFORMATIONAL - 1 },
      { write: ok },
    ]);
    expect([a.status, a.body]).toEqual([200, 'ok']);
  });

  test.each<[string, Script]>([
    [
      '5,000 of them, then a 200',
      [{ repeat: 'HTTP/1.1 103 Early Hints\r\n\r\n', times: 5_000 }, { write: ok }],
    ],
    ['an endless storm', [{ forever: 'HTTP/1.1 102 Processing\r\n\r\n' }]],
  ])('a 1xx storm (%s) is refused at the cap, long before the deadline', async (_name, script) => {
    const other = goodExec('alive');
    expectRouter502(await proxied(script));
    await other;
  });

  test.each<[string, Script]>([
    ['a 1 MiB header', [{ write: `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(1 << 20)}\r\n\r\n` }]],
    [
      '10,000 headers',
      [{ write: 'HTTP/1.1 200 OK\r\n' }, { repeat: 'x-h: v\r\n', times: 10_000 }, { write: '\r\n' }],
    ],
    [
      'a control byte in a header value',
      [{ write: 'HTTP/1.1 200 OK\r\nx-a: b\u0001c\r\ncontent-length: 0\r\n\r\n' }],
    ],
    ['a space in a header name', [{ write: 'HTTP/1.1 200 OK\r\nx a: b\r\ncontent-length: 0\r\n\r\n' }]],
    [
      'two different content-lengths',
      [{ write: 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab' }],
    ],
    ['not HTTP at all', [{ write: 'SSH-2.0-OpenSSH_9.6\r\n' }, { end: true }]],
    ['a close before any answer', [{ end: true }]],
    ['a reset before any answer', [{ reset: true }]],
    [
      'a status line without headers end, then a reset',
      [{ write: 'HTTP/1.1 200 OK\r\nx: y\r\n' }, { reset: true }],
    ],
  ])('%s: 502', async (_name, script) => {
    const other = goodExec('alive');
    expectRouter502(await proxied(script));
    await other;
  });

  test('a reset mid-body cuts that response only', async () => {
    const other = goodExec('alive');
    const a = await proxied([
      { write: 'HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n' },
      { write: 'x'.repeat(1000) },
      { delayMs: 50 },
      { reset: true },
    ]);
    expect(a.status).toBe(200);
    expect(a.body).toBeInstanceOf(Error);
    await other;
  });

  test('junk after a complete response does not cut it: the client gets it whole', async () => {
    for (let i = 0; i < 20; i++) {
      const a = await proxied([
        { write: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokJUNK\r\n\r\n' },
        { end: true },
      ]);
      expect([a.status, a.body]).toEqual([200, 'ok']);
    }
  });

  test('a bad chunk size mid-body cuts that response only', async () => {
    const a = await proxied([
      { write: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n' },
      { write: 'zz\r\n' },
      { hang: true },
    ]);
    expect(a.status).toBe(200);
    expect(a.body).toBeInstanceOf(Error);
  });

  test('a trickling body is cut at the request deadline', async () => {
    const a = await proxied(
      [{ write: 'HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n' }, { forever: Buffer.from('.') }],
      { 'x-sandbox-timeout': '1' },
    );
    expect(a.status).toBe(200);
    expect(a.body).toBeInstanceOf(Error);
  });
});

describe("what a pod's response may not claim", () => {
  test("Set-Cookie, HSTS, Alt-Svc and the router's own headers are dropped; HTML is sandboxed", async () => {
    const html = '<script>document.cookie</script>';
    const a = await proxied([
      {
        write:
          'HTTP/1.1 200 OK\r\n' +
          'content-type: text/html\r\n' +
          'set-cookie: session=stolen; Path=/\r\n' +
          'set-cookie: other=1\r\n' +
          'strict-transport-security: max-age=31536000; includeSubDomains\r\n' +
          'alt-svc: h2="evil.example:443"\r\n' +
          'clear-site-data: "*"\r\n' +
          'x-sandbank-error-code: not_found\r\n' +
          'content-security-policy: script-src *\r\n' +
          'x-kept: yes\r\n' +
          `content-length: ${html.length}\r\n\r\n${html}`,
      },
    ]);
    expect([a.status, a.body]).toEqual([200, html]);
    expect(a.headers.get('set-cookie')).toBeNull();
    expect(a.headers.get('strict-transport-security')).toBeNull();
    expect(a.headers.get('alt-svc')).toBeNull();
    expect(a.headers.get('clear-site-data')).toBeNull();
    expect(a.headers.get('x-sandbank-error-code')).toBeNull();
    expect(a.headers.get('content-security-policy')).toBe('sandbox');
    expect(a.headers.get('x-content-type-options')).toBe('nosniff');
    expect(a.headers.get('x-kept')).toBe('yes');
    expect(a.headers.get('content-type')).toBe('text/html');
  });
});
