/**
 * Response helpers for the legacy REST API, producing FastAPI's bytes: compact JSON
 * (`separators=(",", ":")`, non-ASCII as is), `application/json`, an explicit Content-Length,
 * and FastAPI's validation-error shape `{"detail":[{type, loc, msg, input}]}` with status 422.
 */
import type { ServerResponse } from 'node:http';

/** A JSON body already serialized (for responses with Python floats in them). */
export class RawJson {
  constructor(readonly text: string) {}
}

/**
 * Serializes like Python's `json.dumps(ensure_ascii=False, separators=(",", ":"))`. JavaScript's
 * JSON.stringify escapes strings the same way (quote, backslash, the C0 controls); numbers
 * that must look like Python floats are passed in as RawJson.
 */
export function pyJson(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(pyJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const fields = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${pyJson(v)}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const bytes = Buffer.from(pyJson(body));
  res.writeHead(status, {
    ...headers,
    'content-length': String(bytes.length),
    'content-type': 'application/json',
  });
  res.end(bytes);
}

/** One entry of FastAPI's 422 `detail` list. */
export interface ValidationIssue {
  readonly type: string;
  readonly loc: readonly (string | number)[];
  readonly msg: string;
  readonly input: unknown;
  readonly ctx?: Readonly<Record<string, unknown>>;
}

export function sendValidationError(res: ServerResponse, issues: readonly ValidationIssue[]): void {
  sendJson(res, 422, { detail: issues });
}

/** FastAPI's `{"message": …}` error bodies used by the upload, download, list and exists routes. */
export function sendMessage(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { message });
}
