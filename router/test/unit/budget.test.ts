/** Each surface's way of bounding work, as one deadline and the error it ends with. */
import { callBudget, requestBudget, sessionBudget } from '../../src/admission/budget.js';
import type { Budget } from '../../src/admission/budget.js';

const LIFETIME_MS = 60_000;

/** `make()` gives a budget `ms` long from when it was made, that expires with `code`. */
function expectBudget(make: () => Budget, ms: number, code: string | undefined): void {
  const before = Date.now();
  const budget = make();
  const after = Date.now();
  expect(budget.deadline).toBeGreaterThanOrEqual(before + ms);
  expect(budget.deadline).toBeLessThanOrEqual(after + ms);
  expect(budget.expired?.().code).toBe(code);
}

test.each([
  ['no header: the cap', undefined, 180_000],
  ['less than the cap', '2.5', 2_500],
  ['more than the cap', '600', 180_000],
  ['repeated: the first', ['1', '9'], 1_000],
])('an HTTP request: X-Sandbox-Timeout %s', (_, header, ms) => {
  expectBudget(() => requestBudget(header, 180_000), ms, 'deadline_exceeded');
});

test.each([
  ['no header: the lifetime', undefined, LIFETIME_MS, 'lifetime_exceeded'],
  ['less than the lifetime', '0.5', 500, 'deadline_exceeded'],
  ['more than the lifetime', '3600', LIFETIME_MS, 'lifetime_exceeded'],
])('a WebSocket session: X-Sandbox-Timeout %s', (_, header, ms, code) => {
  expectBudget(() => sessionBudget(header, LIFETIME_MS), ms, code);
});

test.each(['0', '-1', 'soon', ''])('X-Sandbox-Timeout %j is refused on both', (header) => {
  for (const budget of [() => requestBudget(header, 1_000), () => sessionBudget(header, 1_000)]) {
    expect(budget).toThrow('X-Sandbox-Timeout: must be a positive number of seconds');
  }
});

test("a gRPC call keeps the caller's deadline within the cap; grpc-js enforces it", () => {
  const at = new Date(Date.now() + 5_000);
  expect(callBudget(at, 1_000, 60_000)).toEqual({ deadline: at.getTime() });
  expect(callBudget(at.getTime(), 1_000, 60_000)).toEqual({ deadline: at.getTime() });
});

test('a gRPC call without a deadline gets the default, and the router ends it', () => {
  expectBudget(() => callBudget(Infinity, 1_000, 60_000), 1_000, 'deadline_exceeded');
});

test("a gRPC caller's deadline past the cap is cut to the cap, and the router ends it there", () => {
  const hourAway = Date.now() + 3_600_000;
  expectBudget(() => callBudget(hourAway, 1_000, 60_000), 60_000, 'deadline_exceeded');
  expect(callBudget(hourAway, 1_000, 60_000).expired?.().message).toMatch(/60 s/);
});
