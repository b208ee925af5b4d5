/**
 * An MCP session's claim, with stand-in sandboxes: created once at the first call, created again
 * after a failed claim, deleted (closed) at the end even while it is still being created, and after
 * idleness, which a call in progress holds off.
 */
import { ClaimSession } from '../../src/mcp/claim-session.js';
import type { Sandbox } from '../../src/sandbox.js';

interface FakeSandbox {
  readonly claimName: string;
  closed: boolean;
  close(): Promise<void>;
}

function fake(name: string): FakeSandbox {
  return {
    claimName: name,
    closed: false,
    close() {
      this.closed = true;
      return Promise.resolve();
    },
  };
}

const asSandbox = (sandbox: FakeSandbox): Sandbox => sandbox as unknown as Sandbox;

test('one claim for every call of the session, made at the first call; close deletes it', async () => {
  const made: FakeSandbox[] = [];
  const session = new ClaimSession({
    create: () => {
      made.push(fake(`claim-${made.length}`));
      return Promise.resolve(asSandbox(made.at(-1) as FakeSandbox));
    },
    idleTimeoutMs: 60_000,
    log: () => undefined,
  });
  expect(await session.claimName()).toBeUndefined();
  const names = await Promise.all(
    [1, 2, 3].map(() => session.with(async ({ sandbox }) => sandbox.claimName)),
  );
  expect(names).toEqual(['claim-0', 'claim-0', 'claim-0']);
  await session.close();
  expect(made.map((s) => s.closed)).toEqual([true]);
  await expect(session.with(() => Promise.resolve())).rejects.toThrow('the MCP session has ended');
});

test('a failed claim is not kept: the next call claims again', async () => {
  let attempt = 0;
  const session = new ClaimSession({
    create: () =>
      ++attempt === 1 ? Promise.reject(new Error('pool empty')) : Promise.resolve(asSandbox(fake('ok'))),
    idleTimeoutMs: 60_000,
    log: () => undefined,
  });
  await expect(session.with(() => Promise.resolve())).rejects.toThrow('pool empty');
  expect(await session.with(async ({ sandbox }) => sandbox.claimName)).toBe('ok');
  await session.close();
});

test('closing while the claim is being created aborts the creation and deletes what it made', async () => {
  const made = fake('late');
  let signal: AbortSignal | undefined;
  let finish: () => void = () => undefined;
  const session = new ClaimSession({
    create: (given) => {
      signal = given;
      return new Promise((resolve) => (finish = () => resolve(asSandbox(made))));
    },
    idleTimeoutMs: 60_000,
    log: () => undefined,
  });
  const call = session.with(() => Promise.resolve());
  const closing = session.close();
  expect(signal?.aborted).toBe(true);
  finish();
  await closing;
  await call;
  expect(made.closed).toBe(true);
});

test('idleness deletes the claim (not during a call); the next call gets a fresh one and learns the old name', async () => {
  let count = 0;
  const made: FakeSandbox[] = [];
  let idled: () => void = () => undefined;
  const session = new ClaimSession({
    create: () => {
      made.push(fake(`claim-${count++}`));
      return Promise.resolve(asSandbox(made.at(-1) as FakeSandbox));
    },
    idleTimeoutMs: 20,
    onIdle: () => idled(),
    log: () => undefined,
  });
  let idle = new Promise<void>((resolve) => (idled = resolve));
  // A call that outlasts the idle timeout keeps its claim.
  let release: () => void = () => undefined;
  const long = session.with(() => new Promise<void>((resolve) => (release = resolve)));
  await new Promise((resolve) => setTimeout(resolve, 60));
  expect(made[0]?.closed).toBe(false);
  release();
  await long;
  await idle;
  expect(made[0]?.closed).toBe(true);
  idle = new Promise<void>((resolve) => (idled = resolve));
  const second = await session.with(async (use) => ({ name: use.sandbox.claimName, replaced: use.replaced }));
  expect(second).toEqual({ name: 'claim-1', replaced: 'claim-0' });
  // Reported once only.
  expect(await session.with(async (use) => use.replaced)).toBeUndefined();
  await session.close();
  expect(made[1]?.closed).toBe(true);
});

test("the session's end waits for an idle deletion under way", async () => {
  let deleted: () => void = () => undefined;
  let deleting: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (deleting = resolve));
  const slow = {
    claimName: 'slow',
    close: () =>
      new Promise<void>((resolve) => {
        deleting();
        deleted = resolve;
      }),
  };
  const session = new ClaimSession({
    create: () => Promise.resolve(slow as unknown as Sandbox),
    idleTimeoutMs: 10,
    log: () => undefined,
  });
  await session.with(() => Promise.resolve());
  await started;
  let ended = false;
  const closing = session.close().then(() => (ended = true));
  // Every pending microtask runs before setImmediate's callback: an unwaited close would be done.
  await new Promise((resolve) => setImmediate(resolve));
  expect(ended).toBe(false);
  deleted();
  await closing;
  expect(ended).toBe(true);
});
