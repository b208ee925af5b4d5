import { isDns1123Label, nameHash } from '@sandbank/api';

describe('nameHash (FNV-1a 32-bit, 8 hex)', () => {
  it.each([
    ['', '811c9dc5'],
    ['a', 'e40c292c'],
    ['foobar', 'bf9cf968'],
  ])('matches the published FNV-1a test vector for %j', (input, expected) => {
    expect(nameHash(input)).toBe(expected);
  });

  it('is always 8 lowercase hex digits, also for multi-byte names', () => {
    for (const name of ['python-sandbox-warmpool', 'ä', 'x'.repeat(300)]) {
      expect(nameHash(name)).toMatch(/^[0-9a-f]{8}$/);
    }
    expect(nameHash('ä')).not.toBe(nameHash('a'));
  });
});

describe('isDns1123Label', () => {
  it.each(['a', 'sandbox-claim-0a1b2c3d', 'x'.repeat(63)])('accepts %j', (v) =>
    expect(isDns1123Label(v)).toBe(true),
  );
  it.each(['', 'A', '-a', 'a-', 'a.b', 'x'.repeat(64)])('rejects %j', (v) =>
    expect(isDns1123Label(v)).toBe(false),
  );
});
