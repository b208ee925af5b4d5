/**
 * Command-line splitting with the rules of Python's `shlex.split` (POSIX mode, no comments),
 * which the legacy `POST /execute` applies before running a command without a shell:
 *
 * - words are separated by space, tab, CR and LF;
 * - outside quotes, a backslash takes the next character literally;
 * - in single quotes nothing is special;
 * - in double quotes a backslash escapes only `"` and `\` and is kept before anything else;
 * - quotes join with adjacent text (`a"b c"d` is one word `ab cd`), and `''` is an empty word;
 * - an unclosed quote fails with "No closing quotation", a trailing backslash (also inside
 *   double quotes) with
 *   "No escaped character" (Python's ValueError messages, which the legacy API reports).
 */

export class ShlexError extends Error {
  override readonly name = 'ShlexError';
}

const WHITESPACE = new Set([' ', '\t', '\r', '\n']);

export function shlexSplit(input: string): string[] {
  const words: string[] = [];
  let word = '';
  /** Whether the current word exists even if empty (it had quotes). */
  let inWord = false;
  let quote: "'" | '"' | undefined;
  // Code points, not UTF-16 units: what Python's shlex iterates over in a str.
  const chars = Array.from(input);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') {
        quote = undefined;
      } else if (ch === '\\') {
        const next = chars[++i];
        if (next === undefined) throw new ShlexError('No escaped character');
        word += next === '"' || next === '\\' ? next : `\\${next}`;
      } else {
        word += ch;
      }
      continue;
    }
    if (WHITESPACE.has(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (ch === '\\') {
      const next = chars[++i];
      if (next === undefined) throw new ShlexError('No escaped character');
      word += next;
      inWord = true;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new ShlexError('No closing quotation');
  if (inWord) words.push(word);
  return words;
}
