/**
 * Hostile input on the background-process routes (`…/sandboxes/{name}/processes`: start, list,
 * get, delete, stdin, signal, resize, wait, attach), against a router with a real agent behind
 * it. Each generated request carries one known fault (malformed JSON, a wrong type, an
 * out-of-range number, an unknown signal, a body over the limit, an id that is too long, a path
 * traversal, unicode or no percent-encoding at all, an attach query out of range): the answer is
 * the 4xx the fault calls for, a JSON error whose message names the field, never a 5xx or a stack
 * trace, and nothing reaches the agent's process table. Then requests
 * with random bodies and queries on every route: never a 5xx, every error in the one JSON shape.
 * Requests go over real sockets with node:http, which sends a path as written (fetch would resolve
 * `..` and re-encode it first).
 */
import { Agent, request } from 'node:http';
import { isNativeError } from 'node:util/types';
import fc from 'fast-check';
import { ERROR_CODE_NAMES } from '../../src/errors.js';
import { StartProcessBody } from '../../src/http/processes.js';
import { PROCESS_ID_PATTERN } from '@sandbank/proto';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { pool } from '../helpers/fuzz.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

const FAULT_RUNS = Number(process.env['FUZZ_PROCESSES_RUNS'] ?? 1_500);
const RANDOM_RUNS = Number(process.env['FUZZ_PROCESSES_RANDOM_RUNS'] ?? 1_000);
const CONCURRENCY = 8;
const MAX_JSON_BYTES = 16 * 1024;
const TIMEOUT_MS = 600_000;
const PREFIX = '/v1/namespaces/default/sandboxes/sb/processes';
/** A valid id no process has: requests that pass the id check reach the agent. */
const ID = 'p-1';

let agent: TestAgent;
let router: TestRouter;
let http: Agent;

beforeAll(async () => {
  agent = await startAgent({ ip: '127.0.0.69', grpcPort: 0 });
  router = await startRouter({
    lookup: staticLookup([{ namespace: 'default', name: 'sb', ip: '127.0.0.69' }]),
    agentPorts: { grpcPort: agent.grpcPort },
    limits: { maxJsonBytes: MAX_JSON_BYTES, maxStreamsPerCaller: 10_000 },
  });
  http = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
}, TIMEOUT_MS);

afterAll(async () => {
  http?.destroy();
  await router?.close();
  await agent?.close();
}, TIMEOUT_MS);

interface Fault {
  readonly method: string;
  /** The path after PREFIX, as sent. */
  readonly path: string;
  readonly body?: string;
  /** Send the body chunked, without a content-length. */
  readonly chunked?: boolean;
  /** What the answer must be, and the field its message must name. */
  readonly status: 400 | 413;
  readonly field: string;
}

interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly code: string | undefined;
  readonly text: string;
}

function send(method: string, path: string, body?: string, chunked = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: Number(new URL(router.url).port),
        method,
        path: `${PREFIX}${path}`,
        // A body the router may refuse half-read gets a connection of its own: the router may
        // close it right after its answer, and a keep-alive client that put it back in its pool
        // would send the next request into the closing socket (a reset no client retries blindly).
        agent: body !== undefined && (chunked || Buffer.byteLength(body) > MAX_JSON_BYTES) ? false : http,
        headers: {
          'content-type': 'application/json',
          ...(body === undefined || chunked ? {} : { 'content-length': Buffer.byteLength(body) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'],
            code: res.headers['x-sandbank-error-code'] as string | undefined,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    // The router may answer a body over the limit before it has all of it, and close: that
    // answer is what is checked, a reset after it is not a failure.
    req.on('error', reject);
    if (body !== undefined && chunked) {
      for (let at = 0; at < body.length; at += 4096) req.write(body.slice(at, at + 4096));
    }
    req.end(body !== undefined && !chunked ? body : undefined);
  });
}

/** What is wrong with an error answer, or undefined when it is the one JSON error shape. */
function shapeProblem(a: Answer): string | undefined {
  if (!a.contentType?.startsWith('application/json')) return `content-type ${String(a.contentType)}`;
  if (/\n\s+at |\.[jt]s:\d+|node_modules|Error:/.test(a.text)) return 'a stack trace in the body';
  let json: unknown;
  try {
    json = JSON.parse(a.text);
  } catch {
    return 'a body that is not JSON';
  }
  const error = (json as { error?: { code?: unknown; message?: unknown } }).error;
  if (typeof error?.code !== 'string' || !(ERROR_CODE_NAMES as readonly string[]).includes(error.code)) {
    return `no code of the table: ${a.text}`;
  }
  if (typeof error.message !== 'string' || error.message === '') return 'no message';
  if (a.code !== error.code) return `header code ${String(a.code)} is not the body's ${error.code}`;
  return undefined;
}

const ID_RE = new RegExp(PROCESS_ID_PATTERN);
/** Ids the router must refuse, as they appear in the path. */
const badId = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '.hidden',
    '-x',
    '_x',
    '%2e%2e',
    '..%2F..%2Fetc%2Fpasswd',
    '%2Fetc%2Fpasswd',
    'a%2Fb',
    'a%5Cb',
    'a%00b',
    'a%20b',
    '%C3%A9',
    'p%E2%80%8B1',
    '%F0%9F%98%80',
    '%EF%BC%91',
    'a'.repeat(65),
    'a'.repeat(4000),
  ),
  fc
    .string({ minLength: 65, maxLength: 300, unit: fc.constantFrom('a', '1', '-', '.', '_') })
    .map((s) => `a${s}`),
  fc
    .string({ minLength: 1, maxLength: 80, unit: 'binary' })
    .filter((s) => !ID_RE.test(s))
    .map(encodeURIComponent),
);

/** Routes that take an id, with the method and a body each accepts (valid: the id is the fault). */
const ID_ROUTES: readonly (readonly [string, string, string | undefined])[] = [
  ['GET', '', undefined],
  ['DELETE', '', undefined],
  ['POST', '/stdin', '{"data":"x"}'],
  ['POST', '/signal', '{"signal":"SIGTERM"}'],
  ['POST', '/resize', '{"rows":24,"cols":80}'],
  ['POST', '/wait', '{"timeoutMs":1}'],
  ['GET', '/attach', undefined],
];

const idFault: fc.Arbitrary<Fault> = fc
  .tuple(badId, fc.constantFrom(...ID_ROUTES))
  .map(([id, [method, suffix, body]]) => ({
    method,
    path: `/${id}${suffix}`,
    ...(body === undefined ? {} : { body }),
    status: 400,
    field: 'id',
  }));

/** Ids that are no percent-encoding: express cannot decode the segment, and says so. */
const undecodableId: fc.Arbitrary<Fault> = fc
  .tuple(
    fc.constantFrom('%', '%%', '%zz', 'a%E0%A4%A', '%C3', '%ED%A0%80', '%FF'),
    fc.constantFrom(...ID_ROUTES),
  )
  .map(([id, [method, suffix, body]]) => ({
    method,
    path: `/${id}${suffix}`,
    ...(body === undefined ? {} : { body }),
    status: 400,
    field: 'path',
  }));

const json = (v: unknown): string => JSON.stringify(v);
const notInt = fc.oneof(
  fc.constantFrom(-1, 1.5, -0.5, 2 ** 32, 1e300, '24', '', null, true, [], {}),
  fc.double({ noInteger: true }).filter(Number.isFinite),
);
const size = fc.oneof(fc.constantFrom(0, 65536, 10_001, -1, 1.5, '24', null, 2 ** 53), notInt);
const signalName = fc.oneof(
  fc.constantFrom(
    'SIGSTOP',
    'SIGCONT',
    'SIGUSR1',
    'sigterm',
    'TERM',
    'SIGTERM ',
    'SIG\u0000TERM',
    '',
    9,
    15,
    null,
  ),
  fc.string({ maxLength: 20 }).filter((s) => !['SIGHUP', 'SIGINT', 'SIGKILL', 'SIGTERM'].includes(s)),
);

/** A body with one field wrong, per route; `field` is what the message must name. */
const bodyFault: fc.Arbitrary<Fault> = fc.oneof(
  // start
  fc
    .oneof(
      fc.constantFrom<[unknown, string]>(
        [{ command: 'ls' }, 'command'],
        [{ command: [] }, 'command'],
        [{ command: [1] }, 'command[0]'],
        [{ command: null }, 'command'],
        [{ shell: 1 }, 'shell'],
        [{ shell: '' }, 'shell'],
        [{}, 'command'],
        [{ command: ['true'], shell: 'true' }, 'command'],
        [{ shell: 'true', env: { A: 1 } }, 'env.A'],
        [{ shell: 'true', env: 'A=1' }, 'env'],
        [{ shell: 'true', cwd: 1 }, 'cwd'],
        [{ shell: 'true', stdin: 'yes' }, 'stdin'],
        [{ shell: 'true', tty: { rows: 24 } }, 'tty.cols'],
        [{ shell: 'true', tty: 'big' }, 'tty'],
        [{ shell: 'true', detach: true }, 'detach'],
      ),
      fc.tuple(notInt).map(([v]): [unknown, string] => [{ shell: 'true', timeoutMs: v }, 'timeoutMs']),
      fc
        .tuple(fc.constantFrom('rows', 'cols'), size)
        .map(([k, v]): [unknown, string] => [
          { shell: 'true', tty: { rows: 24, cols: 80, [k]: v } },
          `tty.${k}`,
        ]),
    )
    .map(([body, field]): Fault => ({ method: 'POST', path: '', body: json(body), status: 400, field })),
  // stdin
  fc
    .oneof(
      fc.constantFrom<[unknown, string]>(
        [{ data: 1 }, 'data'],
        [{ data: null }, 'data'],
        [{ data: ['x'] }, 'data'],
        [{ encoding: 'hex' }, 'encoding'],
        [{ encoding: 'UTF8' }, 'encoding'],
        [{ close: 'true' }, 'close'],
        [{ close: 1 }, 'close'],
        [{ eof: true }, 'eof'],
      ),
    )
    .map(([body, field]): Fault => ({
      method: 'POST',
      path: `/${ID}/stdin`,
      body: json(body),
      status: 400,
      field,
    })),
  // signal
  signalName.map((signal): Fault => ({
    method: 'POST',
    path: `/${ID}/signal`,
    body: json({ signal }),
    status: 400,
    field: 'signal',
  })),
  // resize
  fc.tuple(fc.constantFrom('rows', 'cols'), size).map(([k, v]): Fault => ({
    method: 'POST',
    path: `/${ID}/resize`,
    body: json({ rows: 24, cols: 80, [k]: v }),
    status: 400,
    field: k,
  })),
  fc.constantFrom<Fault>(
    { method: 'POST', path: `/${ID}/resize`, body: '{"rows":24}', status: 400, field: 'cols' },
    { method: 'POST', path: `/${ID}/signal`, body: '{}', status: 400, field: 'signal' },
  ),
  // wait
  notInt.map((v): Fault => ({
    method: 'POST',
    path: `/${ID}/wait`,
    body: json({ timeoutMs: v }),
    status: 400,
    field: 'timeoutMs',
  })),
);

/** Bodies that are no JSON object at all, or over the limit, on every route that reads one. */
const BODY_ROUTES = ['', `/${ID}/stdin`, `/${ID}/signal`, `/${ID}/resize`, `/${ID}/wait`];
const wholeBodyFault: fc.Arbitrary<Fault> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(...BODY_ROUTES),
      fc.oneof(
        fc.constantFrom('{', '', 'nul', '{"a":', '{"data":"x",}', "{'data':'x'}", '\u0000', '[1,'),
        fc.string({ maxLength: 40 }).filter((s) => {
          try {
            JSON.parse(s);
            return false;
          } catch {
            return true;
          }
        }),
      ),
    )
    .map(([path, body]): Fault => ({ method: 'POST', path, body, status: 400, field: 'body' })),
  fc
    .tuple(fc.constantFrom(...BODY_ROUTES), fc.constantFrom('[]', '"x"', '1', 'null', 'true', '[{}]'))
    .map(([path, body]): Fault => ({ method: 'POST', path, body, status: 400, field: 'body' })),
  fc
    .tuple(
      fc.constantFrom(...BODY_ROUTES),
      fc.integer({ min: MAX_JSON_BYTES + 1, max: 4 * MAX_JSON_BYTES }),
      fc.boolean(),
    )
    .map(([path, length, chunked]): Fault => ({
      method: 'POST',
      path,
      body: json({ data: 'x'.repeat(length) }),
      chunked,
      status: 413,
      field: 'body',
    })),
);

const queryFault: fc.Arbitrary<Fault> = fc
  .oneof(
    fc
      .oneof(
        fc.constantFrom(
          '-1',
          'abc',
          '',
          '1e3',
          '0x10',
          '%201',
          '1.5',
          '+1',
          '%EF%BC%91',
          '9007199254740992',
          '18446744073709551615',
          '18446744073709551616',
          '99999999999999999999999999999',
        ),
        fc.bigInt({ min: 2n ** 53n, max: 2n ** 70n }).map(String),
        fc
          .string({ minLength: 1, maxLength: 12 })
          .filter((s) => !/^[0-9]+$/.test(s))
          .map(encodeURIComponent),
      )
      .map((v) => [`fromOffset=${v}`, 'fromOffset'] as const),
    fc.constantFrom('fromOffset=1&fromOffset=2', 'fromOffset=%00').map((q) => [q, 'fromOffset'] as const),
    fc
      .oneof(
        fc.constantFrom('yes', 'TRUE', 'True', '', '2', 'on', 'null'),
        fc
          .string({ maxLength: 8 })
          .filter((s) => !['true', 'false', '1', '0'].includes(s))
          .map(encodeURIComponent),
      )
      .map((v) => [`follow=${v}`, 'follow'] as const),
    fc.constant(['follow=true&follow=false', 'follow'] as const),
  )
  .map(([query, field]): Fault => ({ method: 'GET', path: `/${ID}/attach?${query}`, status: 400, field }));

const fault = fc.oneof(idFault, undecodableId, bodyFault, wholeBodyFault, queryFault);

test.each([
  ['an id of 65 characters', 'GET', `/${'a'.repeat(65)}`, undefined, 400, 'id'],
  ['a path traversal in the id', 'GET', '/..%2F..%2Fetc/attach', undefined, 400, 'id'],
  ['a dot-dot id', 'DELETE', '/..', undefined, 400, 'id'],
  ['a unicode id', 'POST', '/%C3%A9/wait', '{}', 400, 'id'],
  ['an id that is no percent-encoding', 'GET', '/%zz/attach', undefined, 400, 'path'],
  ['an id cut mid percent-encoding', 'POST', '/a%E0%A4%A/stdin', '{}', 400, 'path'],
  ['a negative fromOffset', 'GET', `/${ID}/attach?fromOffset=-1`, undefined, 400, 'fromOffset'],
  [
    'a fromOffset of 2^64',
    'GET',
    `/${ID}/attach?fromOffset=18446744073709551616`,
    undefined,
    400,
    'fromOffset',
  ],
  ['a follow that is no boolean', 'GET', `/${ID}/attach?follow=yes`, undefined, 400, 'follow'],
  ['an unknown signal', 'POST', `/${ID}/signal`, '{"signal":"SIGSTOP"}', 400, 'signal'],
  ['rows 0', 'POST', `/${ID}/resize`, '{"rows":0,"cols":80}', 400, 'rows'],
  ['cols 65536', 'POST', `/${ID}/resize`, '{"rows":24,"cols":65536}', 400, 'cols'],
  ['malformed JSON', 'POST', '', '{"shell":', 400, 'body'],
  ['a command of the wrong type', 'POST', '', '{"command":"ls"}', 400, 'command'],
  ['a body over the limit', 'POST', `/${ID}/stdin`, json({ data: 'x'.repeat(MAX_JSON_BYTES) }), 413, 'body'],
] as const)('%s is refused naming the field', async (_what, method, path, body, status, field) => {
  const a = await send(method, path, body);
  expect(shapeProblem(a)).toBeUndefined();
  expect({ status: a.status, field: a.text.includes(field) }).toEqual({ status, field: true });
});

test(
  `fuzz: ${FAULT_RUNS} requests with one known fault each, ${RANDOM_RUNS} with random bodies and queries`,
  async () => {
    const failures: string[] = [];
    const faults = fc.sample(fault, { numRuns: FAULT_RUNS, seed: 20261207 });
    await pool(faults, CONCURRENCY, async (f) => {
      const what = `${f.method} ${f.path.slice(0, 120)} ${f.body?.slice(0, 80) ?? ''}`;
      const a = await send(f.method, f.path, f.body, f.chunked).catch((e: unknown) => e);
      if (isNativeError(a)) return void failures.push(`${what}: ${a.message}`);
      const answer = a as Answer;
      const problem = shapeProblem(answer);
      const message = (JSON.parse(answer.text || '{}') as { error?: { message?: string } }).error?.message;
      if (problem !== undefined) failures.push(`${what}: ${problem}`);
      else if (answer.status !== f.status) failures.push(`${what}: ${answer.status} ${answer.text}`);
      else if (!message?.includes(f.field))
        failures.push(`${what}: does not name ${f.field}: ${String(message)}`);
    });

    // Anything at all on every route: a body from anywhere (never one that would start a
    // process), any query. The agent may refuse (404: no such process), never the router fail.
    const routes: (readonly [string, string])[] = [
      ['POST', ''],
      ['GET', ''],
      ...ID_ROUTES.map(([m, s]) => [m, `/${ID}${s}`] as const),
    ];
    const anything = fc.record({
      route: fc.constantFrom(...routes),
      body: fc.oneof(
        fc.constant(undefined),
        fc.anything({ maxDepth: 3 }).map((v) => json(v) ?? 'null'),
        fc.string({ maxLength: 200 }),
      ),
      query: fc.dictionary(fc.constantFrom('fromOffset', 'follow', 'id', 'x'), fc.string({ maxLength: 20 }), {
        maxKeys: 3,
      }),
    });
    const randoms = fc
      .sample(anything, { numRuns: RANDOM_RUNS, seed: 7 })
      .filter(({ route, body }) => !(route[1] === '' && route[0] === 'POST' && startsProcess(body)));
    const statuses = new Map<number, number>();
    await pool(randoms, CONCURRENCY, async ({ route: [method, path], body, query }) => {
      const q = new URLSearchParams(query).toString();
      const what = `${method} ${path}?${q} ${body?.slice(0, 80) ?? ''}`;
      const a = await send(
        method,
        `${path}${q === '' ? '' : `?${q}`}`,
        method === 'GET' ? undefined : body,
      ).catch((e: unknown) => e);
      if (isNativeError(a)) return void failures.push(`${what}: ${a.message}`);
      const answer = a as Answer;
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status >= 500) failures.push(`${what}: ${answer.status} ${answer.text}`);
      else if (answer.status >= 400) {
        const problem = shapeProblem(answer);
        if (problem !== undefined) failures.push(`${what}: ${problem}`);
      }
    });
    process.stdout.write(
      `fuzz-processes: ${faults.length} faults, ${randoms.length} random requests; ` +
        `random statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; ${failures.length} failures\n`,
    );
    expect([...new Set(failures)].slice(0, 20)).toEqual([]);
    // Most random requests got past the router's checks to the agent (404: no process p-1) or
    // were refused as invalid: both kinds were exercised.
    expect(statuses.get(400)).toBeGreaterThan(RANDOM_RUNS / 10);
    expect(statuses.get(404)).toBeGreaterThan(RANDOM_RUNS / 20);
    // No request started a process.
    expect(agent.deps.background.list()).toEqual([]);
  },
  TIMEOUT_MS,
);

/** Whether a start body would pass the router's checks (and so start a process). */
function startsProcess(body: string | undefined): boolean {
  try {
    return StartProcessBody.safeParse(JSON.parse(body ?? '')).success;
  } catch {
    return false;
  }
}
