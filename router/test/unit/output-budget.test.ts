/**
 * Buffered exec output (`POST …/exec`, legacy `POST /execute`, gRPC passthrough `Run`) is bounded:
 * 1 MiB per stream by default, a hard maximum per stream (more must stream over the WebSocket or
 * `Exec`), and a router-wide budget of buffered bytes that answers 429 / RESOURCE_EXHAUSTED
 * `output_budget_exhausted` when spent and gets every byte back when a request ends, however it
 * ends. The memory a single request costs the router is measured in a router process of its own.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { credentials, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import type { AgentPromiseClient } from '@sandbank/proto';
import {
  DEFAULT_BUFFERED_OUTPUT_BYTES,
  MAX_BUFFERED_OUTPUT_BYTES,
  bufferedRunBytes,
} from '../../src/exec-spec.js';
import { OutputBudget } from '../../src/admission/output-budget.js';
import { RouterError, loadConfig } from '../../src/index.js';
import { sandboxMetadata } from '../helpers/routed-agent.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

jest.setTimeout(180_000);

const MiB = 1024 * 1024;
const DEFAULT_CAP = DEFAULT_BUFFERED_OUTPUT_BYTES;
const HARD_MAX = MAX_BUFFERED_OUTPUT_BYTES;
/** What one buffered exec with the default cap holds of the budget (both streams + overhead). */
const DEFAULT_RESERVATION = bufferedRunBytes(DEFAULT_CAP);

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const CHILD = join(REPO, 'router', 'test', 'helpers', 'router-child.ts');

let agent: TestAgent;

beforeAll(async () => {
  agent = await startAgent({ ip: '127.0.0.51', grpcPort: 0 });
});

afterAll(async () => {
  await agent?.close();
});

interface Stats {
  readonly rss: number;
  readonly heapUsed: number;
  readonly maxRss: number;
}

interface ChildRouter {
  readonly url: string;
  stats(): Promise<Stats>;
  close(): Promise<void>;
}

async function startChildRouter(limits: Record<string, number> = {}): Promise<ChildRouter> {
  const proc: ChildProcess = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', '--conditions=source', CHILD],
    {
      cwd: REPO,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        CHILD_SANDBOXES: JSON.stringify([{ namespace: 'default', name: 'sb', ip: agent.ip }]),
        CHILD_AGENT_PORTS: JSON.stringify({ grpcPort: agent.grpcPort, legacyPort: agent.restPort }),
        CHILD_LIMITS: JSON.stringify({ requestTimeoutMs: 120_000, ...limits }),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const ready = await new Promise<{ url: string; statsUrl: string }>((resolve, reject) => {
    if (!proc.stdout) throw new Error('no stdout pipe');
    const lines = createInterface({ input: proc.stdout });
    lines.once('line', (line) => resolve(JSON.parse(line) as { url: string; statsUrl: string }));
    exited.then(
      () => reject(new Error('the router process exited before listening')),
      () => undefined,
    );
  });
  return {
    url: ready.url,
    stats: async () => (await (await fetch(ready.statsUrl)).json()) as Stats,
    async close() {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Reads a response body to its end, counting (not keeping) its bytes. */
async function drain(res: Response): Promise<number> {
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) n += chunk.length;
  return n;
}

const exec = (base: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(`${base}/v1/namespaces/default/sandboxes/sb/exec`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: signal ?? AbortSignal.timeout(150_000),
  });

const nuls = (bytes: number): string => `head -c ${bytes} /dev/zero; head -c ${bytes} /dev/zero >&2`;
const fmt = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

describe('OutputBudget', () => {
  test('reserves up to its limit, refuses past it with output_budget_exhausted, and takes shares back once', () => {
    const seen: number[] = [];
    const budget = new OutputBudget(100, { set: (v) => seen.push(v) });
    const a = budget.reserve(60);
    const refused = (() => {
      try {
        budget.reserve(41);
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(refused).toBeInstanceOf(RouterError);
    expect(refused).toMatchObject({ code: 'output_budget_exhausted', httpStatus: 429, retryAfterSeconds: 1 });
    expect((refused as RouterError).grpcStatus).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    const b = budget.reserve(40);
    a.release();
    a.release();
    expect(budget.reserved).toBe(40);
    // A reply larger than its share is held anyway (the memory is in use) and counted.
    b.resize(150);
    expect(budget.reserved).toBe(150);
    expect(() => budget.reserve(1)).toThrow(RouterError);
    b.release();
    b.resize(10);
    expect(budget.reserved).toBe(0);
    expect(seen.at(-1)).toBe(0);
  });

  test('ROUTER_BUFFERED_OUTPUT_BUDGET_BYTES: 128 MiB by default, at least 16 MiB, named when wrong', () => {
    const env = { ROUTER_AUTH_MODE: 'none', ROUTER_HOST: '127.0.0.1' };
    expect(loadConfig(env).limits.bufferedOutputBudgetBytes).toBe(128 * MiB);
    expect(
      loadConfig({ ...env, ROUTER_BUFFERED_OUTPUT_BUDGET_BYTES: String(64 * MiB) }).limits
        .bufferedOutputBudgetBytes,
    ).toBe(64 * MiB);
    expect(() => loadConfig({ ...env, ROUTER_BUFFERED_OUTPUT_BUDGET_BYTES: String(MiB) })).toThrow(
      /ROUTER_BUFFERED_OUTPUT_BUDGET_BYTES/,
    );
    // The budget holds at least one request at the hard maximum.
    expect(16 * MiB).toBeGreaterThan(bufferedRunBytes(HARD_MAX));
  });
});

describe('what one buffered exec costs the router', () => {
  // A router process per test: maxRss is the process's peak so far, so each test measures only
  // its own request, not the peak an earlier one left behind.
  let child: ChildRouter;
  beforeEach(async () => {
    child = await startChildRouter();
    // Warm-up: modules, the agent channel, first-request allocations.
    for (let i = 0; i < 3; i++) expect((await exec(child.url, { shell: 'echo warm' })).status).toBe(200);
  });
  afterEach(() => child?.close());

  test('the 16 MiB NUL request is refused', async () => {
    const before = await child.stats();
    const big = await exec(child.url, { shell: nuls(16 * MiB), maxOutputBytes: 16 * MiB });
    const bigBytes = await drain(big);
    const afterBig = await child.stats();
    console.info(
      `16 MiB NUL request: HTTP ${big.status}, ${fmt(bigBytes)} of response; router RSS ${fmt(before.rss)} → peak ${fmt(afterBig.maxRss)} (+${fmt(afterBig.maxRss - before.rss)})`,
    );
    expect(big.status).toBe(400);
    expect(big.headers.get('x-sandbank-error-code')).toBe('invalid_argument');
  });

  test('NUL output at the hard maximum stays bounded', async () => {
    const before = await child.stats();
    const atMax = await exec(child.url, { shell: nuls(HARD_MAX), maxOutputBytes: HARD_MAX });
    const atMaxBytes = await drain(atMax);
    const afterMax = await child.stats();
    const growth = afterMax.maxRss - before.rss;
    console.info(
      `NUL output at the hard maximum (2 × ${fmt(HARD_MAX)}): HTTP ${atMax.status}, ${fmt(atMaxBytes)} of JSON; router RSS ${fmt(before.rss)} → peak ${fmt(afterMax.maxRss)} (+${fmt(growth)}), heap after ${fmt(afterMax.heapUsed)}`,
    );
    expect(atMax.status).toBe(200);
    // Each NUL is a 6-byte \u0000 escape in the JSON: 48 MiB of response from 8 MiB of output.
    expect(atMaxBytes).toBeGreaterThan(2 * 6 * HARD_MAX);
    // The JSON is never held whole: what the router holds is the 8 MiB of raw output, plus the
    // gRPC receive buffers and the encoding window.
    expect(growth).toBeLessThan(64 * MiB);
    expect(afterMax.heapUsed - before.heapUsed).toBeLessThan(16 * MiB);
  });
});

describe('what many concurrent buffered execs cost the router', () => {
  /** Room for three execs at the hard maximum, not four. */
  const budget = 3 * bufferedRunBytes(HARD_MAX) + 1024;
  let child: ChildRouter;
  beforeAll(async () => {
    child = await startChildRouter({ bufferedOutputBudgetBytes: budget });
    for (let i = 0; i < 3; i++) expect((await exec(child.url, { shell: 'echo warm' })).status).toBe(200);
  });
  afterAll(() => child?.close());

  test('eight NUL execs at the hard maximum: three run, five get 429, memory follows the budget', async () => {
    const gate = 'gate-many';
    const body = {
      shell: `while [ ! -e ${gate} ]; do sleep 0.02; done; ${nuls(HARD_MAX)}`,
      maxOutputBytes: HARD_MAX,
    };
    const before = await child.stats();
    const requests = Array.from({ length: 8 }, () => exec(child.url, body));
    // The refusals come while the admitted three still wait at the gate, holding their share
    // (fewer than five refusals would hang here until the test times out: a failure).
    let refused = 0;
    await new Promise<void>((resolve) => {
      for (const r of requests)
        r.then(
          (res) => {
            if (res.status === 429 && ++refused === 5) resolve();
          },
          () => undefined,
        );
    });
    await writeFile(join(agent.dir, gate), '');
    const answers = await Promise.all(requests);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429]);
    let bytes = 0;
    for (const a of answers) bytes += await drain(a);
    const after = await child.stats();
    const growth = after.maxRss - before.rss;
    console.info(
      `8 concurrent NUL execs at the hard maximum, budget ${fmt(budget)}: ${statuses.join(' ')}; ${fmt(bytes)} of responses; router RSS ${fmt(before.rss)} → peak ${fmt(after.maxRss)} (+${fmt(growth)})`,
    );
    expect(growth).toBeLessThan(128 * MiB);
  });
});

describe('the router-wide budget of buffered output', () => {
  let router: TestRouter;
  let passthrough: AgentPromiseClient;
  let gates = 0;

  beforeAll(async () => {
    router = await startRouter({
      lookup: staticLookup([{ namespace: 'default', name: 'sb', ip: agent.ip }]),
      agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
      // Room for three default buffered execs, not four.
      limits: { bufferedOutputBudgetBytes: 3 * DEFAULT_RESERVATION + 1024, requestTimeoutMs: 120_000 },
    });
    passthrough = createAgentPromiseClient(
      createAgentClient(router.grpcAddress, credentials.createInsecure()),
    );
  });
  afterAll(() => router?.close());

  /** A command that runs until `open()` creates its gate file in the agent's workspace. */
  function gate(): { shell: string; open: () => Promise<void> } {
    const name = `gate-${gates++}`;
    return {
      shell: `while [ ! -e ${name} ]; do sleep 0.02; done; printf done`,
      open: () => writeFile(join(agent.dir, name), ''),
    };
  }

  const reserved = async (): Promise<number> => {
    const text = await router.app.metrics.registry.metrics();
    return Number(/^sandbank_router_buffered_output_bytes (\d+)/m.exec(text)?.[1] ?? NaN);
  };

  /** Polls the gauge (bounded): the budget comes back when the requests' handlers end. */
  async function reservedBecomes(want: number): Promise<void> {
    const until = Date.now() + 60_000;
    while ((await reserved()) !== want) {
      if (Date.now() > until) throw new Error(`buffered output stayed at ${await reserved()}, not ${want}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Starts three gated execs and waits until all three hold their share of the budget. */
  async function fill(extra: Record<string, string> = {}, signal?: AbortSignal) {
    const g = gate();
    const held = [0, 1, 2].map(() => exec(router.url, { shell: g.shell }, extra, signal));
    await reservedBecomes(3 * DEFAULT_RESERVATION);
    return { g, held };
  }

  test('above the hard maximum per stream is invalid_argument, naming the field and streaming', async () => {
    const res = await exec(router.url, { shell: 'true', maxOutputBytes: HARD_MAX + 1 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/maxOutputBytes/);
    expect(body.error.message).toMatch(/WebSocket/);
  });

  test('the default cap is 1 MiB per stream', async () => {
    const res = await exec(router.url, { shell: nuls(DEFAULT_CAP + 10) });
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ stdoutTruncated: true, stderrTruncated: true, exitCode: 0 });
    expect((body['stdout'] as string).length).toBe(DEFAULT_CAP);
    expect(body['stdout']).toBe('\u0000'.repeat(DEFAULT_CAP));
  });

  test('many concurrent buffered execs: 429 once the budget is spent, all of it back when they end', async () => {
    await reservedBecomes(0);
    const { g, held } = await fill();
    const refused = await Promise.all([0, 1, 2].map(() => exec(router.url, { shell: 'echo no' })));
    for (const res of refused) {
      expect(res.status).toBe(429);
      expect(res.headers.get('x-sandbank-error-code')).toBe('output_budget_exhausted');
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('output_budget_exhausted');
    }
    // The legacy contract's /execute draws on the same budget.
    const legacy = await fetch(`${router.url}/execute`, {
      method: 'POST',
      headers: { 'x-sandbox-id': 'sb', 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'echo no' }),
    });
    expect(legacy.status).toBe(429);
    expect(await legacy.json()).toEqual({ detail: expect.stringMatching(/buffered/) as unknown });
    // So does the gRPC passthrough's Run.
    const run = passthrough.run(
      { process: { command: { case: 'shell', value: 'echo no' } } },
      { metadata: sandboxMetadata() },
    );
    const failure = (await run.then(
      () => undefined,
      (e: unknown) => e,
    )) as ServiceError | undefined;
    expect(failure?.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(failure?.metadata.get('sandbank-error-code')).toEqual(['output_budget_exhausted']);

    await g.open();
    for (const res of await Promise.all(held)) {
      expect(res.status).toBe(200);
      expect(((await res.json()) as { stdout: string }).stdout).toBe('done');
    }
    await reservedBecomes(0);
    expect((await exec(router.url, { shell: 'printf again' })).status).toBe(200);
  });

  test('aborted requests and expired deadlines give their share back', async () => {
    await reservedBecomes(0);
    const abort = new AbortController();
    const { held } = await fill({}, abort.signal);
    expect((await exec(router.url, { shell: 'true' })).status).toBe(429);
    abort.abort();
    await Promise.allSettled(held);
    await reservedBecomes(0);

    const { held: timed } = await fill({ 'x-sandbox-timeout': '2' });
    for (const res of await Promise.all(timed)) expect(res.status).toBe(504);
    await reservedBecomes(0);
    expect((await exec(router.url, { shell: 'printf again' })).status).toBe(200);
  });

  test('a passthrough Run above the hard maximum is refused before it runs', async () => {
    const failure = (await passthrough
      .run(
        {
          process: { command: { case: 'shell', value: 'touch ran-anyway' } },
          maxOutputBytes: BigInt(HARD_MAX + 1),
        },
        { metadata: sandboxMetadata() },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as ServiceError | undefined;
    expect(failure?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(failure?.details).toMatch(/max_output_bytes/);
    await expect(stat(join(agent.dir, 'ran-anyway'))).rejects.toThrow(/ENOENT/);
  });
});
