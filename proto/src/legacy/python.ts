/**
 * The few Python behaviours the legacy REST API (upstream's FastAPI python-runtime) exposes in its
 * bytes, shared by the agent, which serves that API, and the router, which translates it to gRPC: float `repr` (for `mod_time`), `str` `repr` (in error
 * messages that print an argv list), `urllib.parse.unquote` / `quote`, and text-mode newline
 * translation of subprocess output.
 */

/**
 * `repr(float)`: the shortest string that round-trips, like JavaScript's, except that integral
 * values keep a `.0` and exponents use Python's spelling (`1e+16`, `1e-07`).
 */
export function pyFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e16 || abs < 1e-4)) {
    // Python switches to exponent notation at 1e16 and below 1e-4, with at least two exponent digits.
    const [mantissa = '', exponent = '0'] = value.toExponential().split('e');
    const sign = exponent.startsWith('-') ? '-' : '+';
    const digits = exponent.replace(/^[+-]/, '').padStart(2, '0');
    return `${mantissa}e${sign}${digits}`;
  }
  const text = String(value);
  return Number.isInteger(value) ? `${text}.0` : text;
}

/** The seconds since the epoch of a nanosecond timestamp as CPython's `st_mtime` computes it. */
export function pyStatSeconds(ns: bigint): number {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  return Number(sec) + Number(nsec) * 1e-9;
}

/** `repr(str)`: single quotes unless the text has a single quote and no double quote. */
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

/** `repr(list_of_str)`. */
export function pyListRepr(items: readonly string[]): string {
  return `[${items.map(pyStrRepr).join(', ')}]`;
}

/**
 * `urllib.parse.unquote`: decodes %XX runs as UTF-8 (invalid sequences become U+FFFD) and
 * leaves malformed escapes as they are.
 */
export function pyUnquote(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = Buffer.from(run.replace(/%/g, ''), 'hex');
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  });
}

/** `urllib.parse.quote(text, safe='/')` (what Starlette puts in Content-Disposition). */
export function pyQuote(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.\-~/]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Output as `subprocess` returns it in text mode: UTF-8 decoded (invalid bytes become U+FFFD,
 * where Python would fail the whole call) with universal newlines (`\r\n` and `\r` → `\n`).
 */
export function pyText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('utf8')
    .replace(/\r\n?/g, '\n');
}
