/**
 * One admission path for HTTP, WebSocket and gRPC passthrough: each surface gets the same
 * deadline, in-flight accounting and span, with a real agent behind the router. The first three
 * tests are the regressions of the copies that had drifted apart.
 */
import { SpanStatusCode } from '@opentelemetry/api';
import { createAgentPromiseClient } from '@sandbank/proto';
import type { AgentPromiseClient } from '@sandbank/proto';
import { sandboxMetadata, startRoutedAgent } from '../helpers/routed-agent.js';
import type { RoutedAgent } from '../helpers/routed-agent.js';
import { recordSpans } from '../helpers/spans.js';
import { openExec } from '../helpers/ws.js';

/** Each test starts processes and sessions on a busy machine: generous, but a hang still fails. */
const TIMEOUT_MS = 60_000;

const spans = recordSpans();
let routed: RoutedAgent;
/** The agent's rpcs through the router's gRPC passthrough. */
let viaRouter: AgentPromiseClient;

const execUrl = (name = 'sb'): string =>
  `${routed.router.wsUrl}/v1/namespaces/default/sandboxes/${name}/exec`;

/** `promise`, or a failure naming `what` after `ms`: a regression must fail, never hang. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The in-flight gauge of `surface` (0 when the surface has no series). */
async function inflight(surface: string): Promise<number> {
  const text = await routed.router.app.metrics.registry.metrics();
  const m = new RegExp(`^sandbank_router_inflight_requests\\{surface="${surface}"\\} (\\d+)$`, 'm').exec(
    text,
  );
  return Number(m?.[1] ?? 0);
}

/** Polls (bounded) until `check` holds: the end of a session is not an event a test can await. */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`never: ${what}`);
}

beforeAll(async () => {
  routed = await startRoutedAgent('127.0.0.8');
  viaRouter = createAgentPromiseClient(routed.passthrough);
}, TIMEOUT_MS);

afterAll(() => routed?.close(), TIMEOUT_MS);

describe('regressions of the drifted copies', () => {
  test(
    'WebSocket: X-Sandbox-Timeout ends the session with deadline_exceeded (4504)',
    async () => {
      const s = await openExec(execUrl(), { 'x-sandbox-timeout': '0.5' });
      s.ws.send(JSON.stringify({ type: 'start', shell: 'sleep 30' }));
      await s.waitForText((f) => f['type'] === 'started');
      const closed = await within(15_000, 'the session outlived its X-Sandbox-Timeout', s.closed);
      expect(closed.code).toBe(4504);
      expect(closed.reason).toMatch(/^deadline_exceeded: /);
      await eventually('the process was killed', () => Promise.resolve(routed.agent.deps.runner.size === 0));
    },
    TIMEOUT_MS,
  );

  test(
    'WebSocket: a session counts in the in-flight gauge while it is open',
    async () => {
      const s = await openExec(execUrl());
      s.ws.send(JSON.stringify({ type: 'start', command: ['cat'], stdin: true }));
      await s.waitForText((f) => f['type'] === 'started');
      expect(await inflight('ws')).toBe(1);
      s.ws.close();
      await s.closed;
      await eventually('the ws gauge is back to 0', async () => (await inflight('ws')) === 0);
    },
    TIMEOUT_MS,
  );

  test(
    'gRPC: the span lasts as long as the relayed call',
    async () => {
      const started = performance.now();
      const result = await viaRouter.run(
        { process: { command: { case: 'shell', value: 'sleep 0.4; echo slept' } } },
        { metadata: sandboxMetadata() },
      );
      const tookMs = performance.now() - started;
      expect(Buffer.from(result.stdout).toString()).toBe('slept\n');
      const [span] = spans.named('grpc /sandbank.agent.v1.ExecService/Run');
      expect(span?.endedAt).toBeDefined();
      const spanMs = (span?.endedAt ?? 0) - (span?.startedAt ?? 0);
      // The call took at least the 0.4 s sleep; a span ended at admission lasts a few ms.
      expect(spanMs).toBeGreaterThan(350);
      expect(spanMs).toBeLessThanOrEqual(tookMs);
    },
    TIMEOUT_MS,
  );
});

describe('the same admission on every surface', () => {
  test(
    'a failed call leaves an ended span with an error status, on each surface',
    async () => {
      spans.spans.length = 0;
      const stat = await fetch(`${routed.router.url}/v1/namespaces/default/sandboxes/nope/stat`);
      expect(stat.status).toBe(404);
      await expect(openExec(execUrl('nope'))).rejects.toMatchObject({ statusCode: 404 });
      await expect(
        viaRouter.stat({ path: '.' }, { metadata: sandboxMetadata('nope') }),
      ).rejects.toMatchObject({
        details: expect.stringMatching(/^not_found: /),
      });
      const failed = spans.spans.filter((s) => s.status.code === SpanStatusCode.ERROR);
      expect(failed.map((s) => [s.name, s.status.message, s.endedAt !== undefined])).toEqual([
        ['GET /v1/namespaces/:namespace/sandboxes/:name/stat', 'not_found', true],
        ['WS exec', 'not_found', true],
        ['grpc /sandbank.agent.v1.FileService/Stat', 'not_found', true],
      ]);
    },
    TIMEOUT_MS,
  );

  test(
    'every surface counts its requests by outcome and leaves nothing in flight',
    async () => {
      await viaRouter.stat({ path: '.' }, { metadata: sandboxMetadata() });
      const s = await openExec(execUrl());
      s.ws.close();
      await s.closed;
      await eventually('nothing in flight', async () => {
        const counts = await Promise.all(['v1', 'ws', 'grpc'].map(inflight));
        return counts.every((n) => n === 0);
      });
      const text = await routed.router.app.metrics.registry.metrics();
      expect(text).toMatch(/sandbank_router_requests_total\{surface="ws",route="exec",code="ok"\} [1-9]/);
      expect(text).toMatch(
        /sandbank_router_requests_total\{surface="grpc",route="\/sandbank.agent.v1.FileService\/Stat",code="ok"\} [1-9]/,
      );
      expect(text).toMatch(
        /sandbank_router_requests_total\{surface="v1",route="[^"]+\/stat",code="not_found"\} [1-9]/,
      );
    },
    TIMEOUT_MS,
  );
});
