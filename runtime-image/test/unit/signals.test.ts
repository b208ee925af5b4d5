/**
 * The one map from the proto's Signal enum to the signal a caller sends: every value the proto
 * names reaches the process as that signal, and nothing else is accepted.
 */
import { Signal } from '@sandbank/proto';
import { AgentError } from '../../src/errors.js';
import { callerSignalOf } from '../../src/process/signals.js';

it.each(
  Object.entries(Signal).filter(([name, value]) => typeof value === 'number' && name !== 'UNSPECIFIED'),
)('maps Signal.%s (%d) to the signal of that name', (name, value) => {
  expect(callerSignalOf(value as number)).toBe(`SIG${name}`);
});

it.each([Signal.UNSPECIFIED, 3, 99, -1, 0x7fff_ffff, 1.5, Number.NaN])(
  'refuses %s as invalid_argument',
  (value) => {
    let thrown: unknown;
    try {
      callerSignalOf(value);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AgentError);
    expect(thrown).toMatchObject({
      code: 'invalid_argument',
      message: `signal ${value} is not one of HUP, INT, KILL, TERM`,
    });
  },
);
