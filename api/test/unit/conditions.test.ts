import { findCondition, removeCondition, setCondition, type Condition } from '@sandbank/api';

const t0 = '2026-01-01T00:00:00Z';
const t1 = '2026-01-01T00:01:00Z';
const ready = (status: Condition['status'], reason: string, observedGeneration = 1) => ({
  type: 'Ready',
  status,
  reason,
  message: `${reason} message`,
  observedGeneration,
});

describe('setCondition', () => {
  it('adds a new condition stamped with now', () => {
    const { list, changed } = setCondition(undefined, ready('False', 'Pending'), t0);
    expect(changed).toBe(true);
    expect(list).toEqual([{ ...ready('False', 'Pending'), lastTransitionTime: t0 }]);
  });

  it('reports no change and keeps the time when nothing differs', () => {
    const first = setCondition([], ready('True', 'SandboxReady'), t0).list;
    const { list, changed } = setCondition(first, ready('True', 'SandboxReady'), t1);
    expect(changed).toBe(false);
    expect(findCondition(list, 'Ready')?.lastTransitionTime).toBe(t0);
  });

  it('keeps lastTransitionTime when only reason or message change', () => {
    const first = setCondition([], ready('False', 'Pending'), t0).list;
    const { list, changed } = setCondition(first, ready('False', 'SandboxNotReady'), t1);
    expect(changed).toBe(true);
    expect(findCondition(list, 'Ready')).toMatchObject({ reason: 'SandboxNotReady', lastTransitionTime: t0 });
  });

  it('moves lastTransitionTime when the status flips', () => {
    const first = setCondition([], ready('False', 'Pending'), t0).list;
    const { list } = setCondition(first, ready('True', 'SandboxReady'), t1);
    expect(findCondition(list, 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: t1 });
  });

  it('counts a new observedGeneration as a change and leaves other types alone', () => {
    const other = {
      type: 'Finished',
      status: 'False' as const,
      reason: 'Running',
      message: '',
      lastTransitionTime: t0,
    };
    const first = setCondition([other], ready('True', 'SandboxReady', 1), t0).list;
    const { list, changed } = setCondition(first, ready('True', 'SandboxReady', 2), t1);
    expect(changed).toBe(true);
    expect(findCondition(list, 'Finished')).toBe(other);
  });

  it('does not mutate its input', () => {
    const input = Object.freeze([Object.freeze({ ...ready('False', 'Pending'), lastTransitionTime: t0 })]);
    expect(() => setCondition(input, ready('True', 'SandboxReady'), t1)).not.toThrow();
    expect(input[0]?.status).toBe('False');
  });
});

describe('removeCondition', () => {
  it('removes by type and says whether it did', () => {
    const list = setCondition([], ready('True', 'SandboxReady'), t0).list;
    expect(removeCondition(list, 'Ready')).toEqual({ list: [], changed: true });
    expect(removeCondition(list, 'Finished').changed).toBe(false);
  });
});
