/**
 * FastAPI's JSON response encoding for legacy requests translated to gRPC. The Python-isms both
 * the router and the agent need (shlex, float repr, quoting) live in `@sandbank/proto`.
 */
import { pyFloat, pyStatSeconds } from '@sandbank/proto';

export {
  ShlexError,
  pyFloat,
  pyListRepr,
  pyQuote,
  pyStrRepr,
  pyText,
  pyUnquote,
  shlexSplit,
} from '@sandbank/proto';

/** `os.stat().st_mtime` from a protobuf Timestamp, computed as CPython does (sec + nsec·1e-9). */
export function statSeconds(seconds: bigint, nanos: number): number {
  return pyStatSeconds(seconds * 1_000_000_000n + BigInt(nanos));
}

/** A number that must be written as a Python float in a JSON body. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** `json.dumps(v, ensure_ascii=False, separators=(",", ":"))`, FastAPI's response encoding. */
export function pyJson(value: unknown): string {
  if (value instanceof PyFloat) return pyFloat(value.value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${pyJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
