/**
 * The Python behaviours the legacy API reproduces, checked against python3 itself on the same
 * inputs: shlex.split, float repr, str/list repr, urllib.parse.quote/unquote.
 */
import { execFileSync } from 'node:child_process';
import { ShlexError, pyFloat, pyListRepr, pyQuote, pyUnquote, shlexSplit } from '@sandbank/proto';

/** Runs `fn` (a Python expression of `x`) over every input in one python3 process. */
function python(fn: string, inputs: readonly unknown[]): unknown[] {
  const script = [
    'import json, shlex, sys, urllib.parse',
    'out = []',
    'for x in json.loads(sys.stdin.read()):',
    '    try: out.append({"ok": ' + fn + '})',
    '    except ValueError as e: out.append({"error": str(e)})',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(
    execFileSync('python3', ['-c', script], { input: JSON.stringify(inputs), encoding: 'utf8' }),
  ) as unknown[];
}

const splitOrError = (text: string): unknown => {
  try {
    return { ok: shlexSplit(text) };
  } catch (error) {
    if (error instanceof ShlexError) return { error: error.message };
    throw error;
  }
};

it('shlex.split: same words and same errors as Python', () => {
  const inputs = [
    'echo hello world',
    '  leading   and trailing  ',
    `printf '%s|' 'a b' "c d" e\\ f`,
    `a'b c'd "e"'f'`,
    `'' "" x`,
    `"a \\" b" "c \\\\ d" "e \\n f" 'g \\ h'`,
    'tab\tand\nnewline\r\nwords',
    'back\\slash \\$HOME \\\\',
    `"unterminated`,
    `'unterminated`,
    'trailing\\',
    '"trailing in quotes\\',
    'ünïcödé "wörds" 😀',
    '$(not a subshell) `nor this` ;|&',
    '#not a comment',
    '',
  ];
  expect(inputs.map(splitOrError)).toEqual(python('shlex.split(x)', inputs));
});

it('float repr: same spelling as Python, including the ones JavaScript writes differently', () => {
  const inputs = [
    0,
    1,
    -2,
    1795434958.9766462,
    1700000000,
    0.1,
    1e16,
    1.5e-5,
    1e-4,
    123456789.123,
    1e22,
    -0.5,
    2 ** 53,
  ];
  expect(inputs.map(pyFloat)).toEqual(python('repr(float(x))', inputs).map((r) => (r as { ok: string }).ok));
});

it('list repr, quote and unquote: same as Python', () => {
  const argvs = [
    ['sleep', '10'],
    ["it's", 'a "quote"'],
    ['tab\there', 'back\\slash', 'é'],
  ];
  expect(argvs.map(pyListRepr)).toEqual(python('repr(list(x))', argvs).map((r) => (r as { ok: string }).ok));
  const paths = ['dir/a b.txt', 'été/ß.txt', 'plain-name_1.txt', 'q"uote', '%41'];
  expect(paths.map(pyQuote)).toEqual(
    python('urllib.parse.quote(x)', paths).map((r) => (r as { ok: string }).ok),
  );
  const encoded = ['a%20b', '%C3%A9t%C3%A9', 'bad%zzescape', '%2e%2e%2F', '%ff%fe', 'x%'];
  expect(encoded.map(pyUnquote)).toEqual(
    python('urllib.parse.unquote(x)', encoded).map((r) => (r as { ok: string }).ok),
  );
});
