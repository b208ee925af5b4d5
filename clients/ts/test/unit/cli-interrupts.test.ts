/** Ctrl-C while the CLI runs: passed to a running command once, then it stops the CLI; handlers are removed at the end. */
import { PassThrough } from 'node:stream';
import { Interrupted } from '../../src/cli/failures.js';
import { Interrupts } from '../../src/cli/interrupts.js';
import type { CliIo, CliSignal } from '../../src/cli/io.js';

function fakeIo(): {
  io: CliIo;
  raise: (signal: CliSignal) => void;
  handlers: Map<CliSignal, Set<() => void>>;
} {
  const handlers = new Map<CliSignal, Set<() => void>>();
  const io: CliIo = {
    stdin: new PassThrough(),
    stdout: new PassThrough(),
    stderr: new PassThrough(),
    env: {},
    onSignal(signal, handler) {
      const set = handlers.get(signal) ?? new Set();
      set.add(handler);
      handlers.set(signal, set);
      return () => set.delete(handler);
    },
  };
  return { io, handlers, raise: (signal) => handlers.get(signal)?.forEach((h) => h()) };
}

test('the first Ctrl-C goes to the command, the second aborts with Interrupted(SIGINT)', () => {
  const { io, raise, handlers } = fakeIo();
  const interrupts = new Interrupts(io);
  let forwarded = 0;
  interrupts.forwardInterrupt(() => (forwarded += 1));
  raise('SIGINT');
  expect(forwarded).toBe(1);
  expect(interrupts.signal.aborted).toBe(false);
  raise('SIGINT');
  expect(forwarded).toBe(1);
  expect(interrupts.signal.reason).toEqual(new Interrupted('SIGINT'));
  interrupts.dispose();
  expect([...handlers.values()].every((set) => set.size === 0)).toBe(true);
});

test('SIGTERM stops at once, even while a command runs', () => {
  const { io, raise } = fakeIo();
  const interrupts = new Interrupts(io);
  interrupts.forwardInterrupt(() => undefined);
  raise('SIGTERM');
  expect((interrupts.signal.reason as Interrupted).signal).toBe('SIGTERM');
  interrupts.dispose();
});
