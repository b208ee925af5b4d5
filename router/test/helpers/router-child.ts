/**
 * A router in a process of its own, so a test can measure what one request costs it (RSS, heap)
 * without the test's own allocations, or the agent's, in the numbers. Run with
 * `node --expose-gc --import tsx --conditions=source`; configured by the environment:
 * `CHILD_SANDBOXES` (JSON StaticSandbox[]), `CHILD_AGENT_PORTS` and `CHILD_LIMITS` (JSON).
 * Prints one JSON line `{"url": …, "statsUrl": …}` when listening. `GET <statsUrl>` answers the
 * process's memory after a full GC: `{ rss, heapUsed, maxRss }` in bytes, where `maxRss` is the
 * peak resident memory since the previous `GET` (Linux's VmHWM, which each `GET` resets), so a
 * test measures the peak of its own request, not of the start-up (compiling with tsx peaks
 * higher than most requests) or of an earlier request.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildRouterApp, createLogger, noAuthenticator } from '../../src/index.js';
import type { Limits } from '../../src/index.js';
import { staticLookup } from './static-lookup.js';
import type { StaticSandbox } from './static-lookup.js';

const parse = (name: string): unknown => JSON.parse(process.env[name] ?? 'null');

const app = buildRouterApp({
  auth: noAuthenticator(),
  log: createLogger('silent'),
  lookup: staticLookup(parse('CHILD_SANDBOXES') as StaticSandbox[]),
  agentPorts: parse('CHILD_AGENT_PORTS') as { grpcPort: number; legacyPort: number },
  limits: (parse('CHILD_LIMITS') as Partial<Limits> | null) ?? {},
  connect: { timeoutMs: 5_000, retryDelaysMs: [100] },
});

const gc = (globalThis as { gc?: () => void }).gc;
const stats = createServer((_req, res) => {
  gc?.();
  gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  const hwmKiB = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const maxRss = Number(hwmKiB ?? Number.NaN) * 1024;
  // "5" resets the peak to the current resident set (proc(5), clear_refs).
  writeFileSync('/proc/self/clear_refs', '5');
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ rss, heapUsed, maxRss }));
});

const listen = (server: ReturnType<typeof createServer>): Promise<number> =>
  new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );

const [port, statsPort] = await Promise.all([listen(app.server), listen(stats)]);
process.stdout.write(
  `${JSON.stringify({ url: `http://127.0.0.1:${port}`, statsUrl: `http://127.0.0.1:${statsPort}/` })}\n`,
);
process.on('SIGTERM', () => {
  stats.close();
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
