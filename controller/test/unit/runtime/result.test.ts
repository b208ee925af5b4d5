import {
  RetryAfter,
  TerminalError,
  decideRequeue,
  done,
  requeueAfter,
  resultLabel,
  type Decision,
  type Result,
} from '../../../src/runtime/result.js';

type Outcome = { readonly result: Result } | { readonly error: unknown };

const table: readonly [string, Outcome, Decision, string][] = [
  ['done', { result: done }, { action: 'forget' }, 'success'],
  ['requeueAfter', { result: requeueAfter(1500) }, { action: 'after', ms: 1500 }, 'requeue_after'],
  ['requeueAfter rounds up', { result: requeueAfter(0.2) }, { action: 'after', ms: 1 }, 'requeue_after'],
  [
    'requeueAfter clamps negatives',
    { result: requeueAfter(-5) },
    { action: 'after', ms: 0 },
    'requeue_after',
  ],
  [
    'terminal error',
    { error: new TerminalError('TemplateNotFound', 'no template') },
    { action: 'forget' },
    'terminal_error',
  ],
  ['retry after', { error: new RetryAfter(250, 'wait') }, { action: 'after', ms: 250 }, 'retry_after'],
  ['plain error', { error: new Error('boom') }, { action: 'backoff' }, 'error'],
  ['non-error throw', { error: 'string thrown' }, { action: 'backoff' }, 'error'],
  ['undefined thrown', { error: undefined }, { action: 'backoff' }, 'error'],
];

describe('decideRequeue', () => {
  it.each(table)('%s', (_name, outcome, decision, label) => {
    expect(decideRequeue(outcome)).toEqual(decision);
    expect(resultLabel(outcome)).toBe(label);
  });
});
