/**
 * A WebSocket exec session is kept open by its own traffic only: pongs (which a client may send
 * unsolicited, RFC 6455 §5.5.3) do not count, and a session that never sends its start frame is
 * closed after the start timeout instead of holding a slot of its caller for the idle timeout.
 */
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';
import { openExec } from '../helpers/ws.js';
import type { ExecSession } from '../helpers/ws.js';

const TIMEOUT_MS = 60_000;
const IP = '127.0.0.62';

let agent: TestAgent;
const routers: TestRouter[] = [];

beforeAll(async () => {
  agent = await startAgent({ ip: IP, grpcPort: 0 });
}, TIMEOUT_MS);

afterAll(async () => {
  for (const r of routers) await r.close();
  await agent?.close();
}, TIMEOUT_MS);

async function execUrl(limits: { wsIdleTimeoutMs: number; wsStartTimeoutMs: number }): Promise<string> {
  const r = await startRouter({
    lookup: staticLookup([{ namespace: 'default', name: 'sb', ip: IP }]),
    agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
    limits,
  });
  routers.push(r);
  return `${r.wsUrl}/v1/namespaces/default/sandboxes/sb/exec`;
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Sends an unsolicited pong every 50 ms until the session closes. */
function pongForever(s: ExecSession): void {
  const timer = setInterval(() => {
    if (s.ws.readyState === s.ws.OPEN) s.ws.pong();
  }, 50);
  s.ws.once('close', () => clearInterval(timer));
}

test(
  'pongs do not keep a started but silent session alive',
  async () => {
    const s = await openExec(await execUrl({ wsIdleTimeoutMs: 1_000, wsStartTimeoutMs: 30_000 }));
    s.ws.send(JSON.stringify({ type: 'start', shell: 'sleep 30' }));
    await s.waitForText((f) => f['type'] === 'started');
    pongForever(s);
    const closed = await within(20_000, 'a session fed only pongs was never closed', s.closed);
    expect(closed.code).toBe(4408);
    expect(closed.reason).toMatch(/^idle_timeout: /);
  },
  TIMEOUT_MS,
);

test(
  'a session that never starts is closed after the start timeout, pongs or not',
  async () => {
    const s = await openExec(await execUrl({ wsIdleTimeoutMs: 3_600_000, wsStartTimeoutMs: 1_000 }));
    pongForever(s);
    const closed = await within(20_000, 'a session without a start frame was never closed', s.closed);
    expect(closed.code).toBe(4408);
    expect(closed.reason).toMatch(/^idle_timeout: no start frame within 1 s/);
  },
  TIMEOUT_MS,
);

test(
  'a session that starts in time is not cut by the start timeout',
  async () => {
    const s = await openExec(await execUrl({ wsIdleTimeoutMs: 3_600_000, wsStartTimeoutMs: 1_000 }));
    s.ws.send(JSON.stringify({ type: 'start', shell: 'sleep 2; echo done' }));
    const closed = await within(20_000, 'the session did not end', s.closed);
    expect(closed.code).toBe(1000);
    expect(s.stdout()).toBe('done\n');
  },
  TIMEOUT_MS,
);
