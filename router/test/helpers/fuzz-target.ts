/**
 * A router (and a real agent behind it) in a process of its own, for the fuzz suites: a crash,
 * an abort or runaway memory in the router ends this process and not the test that observes it.
 * Started by `startFuzzTarget` (fuzz.ts) through `fork`; it answers over the IPC channel:
 * `ready` with its addresses, then `heap`, `metrics`, `logs` and `close` requests.
 *
 * Its options arrive as JSON in argv[2]: the router's limits and token.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { ALL_NAMESPACES, tokenAuthenticator } from '../../src/index.js';
import type { Limits } from '../../src/index.js';
import { startAgent } from './agent.js';
import { startRouter } from './router.js';
import { staticLookup } from './static-lookup.js';

interface TargetOptions {
  readonly token: string;
  readonly limits: Partial<Limits>;
  readonly agentIp: string;
}

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

const send = (message: unknown): void => {
  process.send?.(message);
};

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as TargetOptions;
  const errors: Record<string, unknown>[] = [];
  const sink = {
    write(line: string): void {
      for (const l of line.split('\n')) {
        if (l !== '' && errors.length < 100) errors.push(JSON.parse(l) as Record<string, unknown>);
      }
    },
  };
  const agent = await startAgent({ ip: opts.agentIp, grpcPort: 0 });
  const router = await startRouter({
    lookup: staticLookup([
      { namespace: 'default', name: 'sb', ip: opts.agentIp },
      { namespace: 'ns1', name: 'sb', ip: opts.agentIp },
    ]),
    auth: tokenAuthenticator({ token: { token: opts.token, namespaces: ALL_NAMESPACES } }),
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
    // Only failures are kept: a fuzz run must produce none.
    log: pino({ level: 'error' }, sink),
    limits: opts.limits,
  });
  process.on('message', (raw: unknown) => {
    const request = raw as { id: number; type: string };
    const answer = (value: unknown): void => send({ id: request.id, value });
    switch (request.type) {
      case 'heap':
        gc();
        gc();
        answer(process.memoryUsage().heapUsed);
        break;
      case 'metrics':
        router.app.metrics.registry.metrics().then(answer, (e: unknown) => answer(String(e)));
        break;
      case 'logs':
        answer(errors);
        break;
      case 'close':
        router
          .close()
          .then(() => agent.close())
          .then(
            () => answer(true),
            (e: unknown) => answer(String(e)),
          )
          .finally(() => process.disconnect());
        break;
    }
  });
  send({ type: 'ready', url: router.url, wsUrl: router.wsUrl, grpcAddress: router.grpcAddress });
}

main().catch((error: unknown) => {
  process.stderr.write(`fuzz target failed to start: ${String(error)}\n`);
  process.exit(1);
});
