import { pyFloat, pyJson, PyFloat, pyText, shlexSplit, pyUnquote } from '../../src/http/legacy/python.js';

describe('Python behaviours of the legacy runtime', () => {
  test.each([
    ['echo hi', ['echo', 'hi']],
    ['  a   b  ', ['a', 'b']],
    [`a 'b c' "d e"`, ['a', 'b c', 'd e']],
    [`"a\\"b" 'a\\b' a\\ b`, ['a"b', 'a\\b', 'a b']],
    [`"x\\y"`, ['x\\y']],
    [`''`, ['']],
    [`a""b`, ['ab']],
    ['', []],
  ])('shlex.split(%j)', (input, want) => {
    expect(shlexSplit(input)).toEqual(want);
  });

  test('shlex errors as Python words them', () => {
    expect(() => shlexSplit('"open')).toThrow('No closing quotation');
    expect(() => shlexSplit("'open")).toThrow('No closing quotation');
    expect(() => shlexSplit('trailing\\')).toThrow('No escaped character');
  });

  test.each([
    [1, '1.0'],
    [1700000000.123456, '1700000000.123456'],
    [0.1, '0.1'],
    [1e16, '1e+16'],
    [1.5e-7, '1.5e-07'],
    [0, '0.0'],
  ])('repr(%p) is %s', (v, want) => {
    expect(pyFloat(v)).toBe(want);
  });

  test('json.dumps spacing, floats and text-mode newlines', () => {
    expect(pyJson({ a: [1, 'é\n'], b: new PyFloat(2), c: undefined })).toBe('{"a":[1,"é\\n"],"b":2.0}');
    expect(pyText(Buffer.from('a\r\nb\rc'))).toBe('a\nb\nc');
    expect(pyUnquote('a%2Fb%zz%E2%82%AC')).toBe('a/b%zz€');
  });
});
