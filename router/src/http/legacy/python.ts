/**
 * The Python behaviours that show in the legacy runtime's response bytes, so that a request
 * translated to gRPC answers exactly what upstream's python-runtime (FastAPI) would: shlex
 * splitting, float repr, json.dumps spacing, text-mode output decoding.
 */

export class ShlexError extends Error {
  override readonly name = 'ShlexError';
}

/** `shlex.split(s)` (POSIX mode, no comments). Throws ShlexError as Python raises ValueError. */
export function shlexSplit(input: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const whitespace = ' \t\r\n';
  while (i < input.length) {
    const ch = input.charAt(i);
    if (whitespace.includes(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (ch === '\\') {
      if (i + 1 >= input.length) throw new ShlexError('No escaped character');
      word += input.charAt(i + 1);
      inWord = true;
      i += 2;
    } else if (ch === "'") {
      const end = input.indexOf("'", i + 1);
      if (end < 0) throw new ShlexError('No closing quotation');
      word += input.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      i++;
      inWord = true;
      for (;;) {
        if (i >= input.length) throw new ShlexError('No closing quotation');
        const c = input.charAt(i);
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\') {
          if (i + 1 >= input.length) throw new ShlexError('No closing quotation');
          const next = input.charAt(i + 1);
          // Inside double quotes only the quote and the backslash itself are escapable.
          word += next === '"' || next === '\\' ? next : c + next;
          i += 2;
        } else {
          word += c;
          i++;
        }
      }
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** `repr(float)`: shortest round-trip digits, `.0` on integral values, Python's exponent form. */
export function pyFloatRepr(value: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e16 || abs < 1e-4)) {
    const [mantissa = '0', exp = '0'] = value.toExponential().split('e');
    const n = Number(exp);
    return `${mantissa}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return Number.isInteger(value) ? `${value.toFixed(0)}.0` : String(value);
}

/** `os.stat().st_mtime` from a protobuf Timestamp, computed as CPython does (sec + nsec·1e-9). */
export function statSeconds(seconds: bigint, nanos: number): number {
  return Number(seconds) + nanos * 1e-9;
}

/** A number that must be written as a Python float in a JSON body. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** `json.dumps(v, ensure_ascii=False, separators=(",", ":"))`, FastAPI's response encoding. */
export function pyJson(value: unknown): string {
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${pyJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** subprocess output in text mode: UTF-8 with universal newlines. */
export function pyText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('utf8')
    .replace(/\r\n?/g, '\n');
}

/** `urllib.parse.unquote`: %XX runs decoded as UTF-8 (bad bytes → U+FFFD), stray % kept. */
export function pyUnquote(text: string): string {
  if (!text.includes('%')) return text;
  const decoder = new TextDecoder('utf-8', { fatal: false });
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) =>
    decoder.decode(Buffer.from(run.replace(/%/g, ''), 'hex')),
  );
}

/** `repr(str)`, as Python prints a file name inside an OSError message. */
export function pyStrRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** `urllib.parse.quote(text, safe='/')`, as Starlette writes a Content-Disposition filename. */
export function pyQuote(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.\-~/]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `repr(list_of_str)`. */
export function pyListRepr(items: readonly string[]): string {
  return `[${items.map(pyStrRepr).join(', ')}]`;
}
