/**
 * What the router's refusals mean: an HTTP error answer (`X-Sandbank-Error-Code`, the
 * `{"error":{code,message}}` envelope, or the legacy `{"detail"}` with the header) or a WebSocket
 * close (4000 + the HTTP status, reason `<code>: message`) as the typed error of its code. An answer
 * that carries no router code is not the router's (a proxy's page, a load balancer's 502): a
 * ProtocolError, never a guess from the status alone.
 */
import { z } from 'zod';
import { errorForCode, ROUTER_CODES } from '../generated/router-errors.js';
import { ProtocolError } from '../errors.js';
import type { RouterError } from '../errors.js';

/** How much of an error body is read: the router's are a few hundred bytes; a proxy's page is cut here. */
export const MAX_ERROR_BODY_BYTES = 64 << 10;
/** How much of a foreign body a message quotes. */
const QUOTE_CHARS = 200;

const Envelope = z.union([
  z.object({ error: z.object({ code: z.string().min(1), message: z.string() }) }),
  z.object({ detail: z.string() }),
]);

/** Whether a response header value names a router code (the router always sends it on its own answers). */
function headerCode(value: string | string[] | undefined): string | undefined {
  const code = Array.isArray(value) ? value[0] : value;
  return code !== undefined && /^[a-z_]{1,64}$/.test(code) ? code : undefined;
}

export function routerCodeOf(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): string | undefined {
  return headerCode(headers['x-sandbank-error-code']);
}

/** The typed error of a non-2xx answer with `status`, `headers` and (the start of) its `body`. */
export function errorFromResponse(
  status: number,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: Uint8Array,
): RouterError | ProtocolError {
  const text = Buffer.from(body).toString('utf8');
  let parsed: z.infer<typeof Envelope> | undefined;
  try {
    const result = Envelope.safeParse(JSON.parse(text));
    parsed = result.success ? result.data : undefined;
  } catch {
    parsed = undefined;
  }
  const code = (parsed && 'error' in parsed ? parsed.error.code : undefined) ?? routerCodeOf(headers);
  if (code === undefined) {
    const quote = text.slice(0, QUOTE_CHARS).trim();
    return new ProtocolError(
      `HTTP ${status} without a router error code (not the router's answer)${quote ? `: ${quote}` : ''}`,
    );
  }
  const message = parsed
    ? 'error' in parsed
      ? parsed.error.message
      : parsed.detail
    : text.slice(0, QUOTE_CHARS);
  return errorForCode(code, `router: ${message || `HTTP ${status}`} (HTTP ${status}, ${code})`, {
    httpStatus: status,
  });
}

/** WebSocket close codes that are not 4000 + an HTTP status, and the status each stands for. */
const SPECIAL_CLOSE_STATUS: ReadonlyMap<number, number> = new Map(
  Object.values(ROUTER_CODES)
    .filter((row) => row.wsCloseCode < 4000)
    .map((row) => [row.wsCloseCode, row.httpStatus]),
);

/** The typed error of a WebSocket close other than the normal end (1000 after `exit`). */
export function errorFromClose(closeCode: number, reason: string): RouterError | ProtocolError {
  const match = /^([a-z_]{1,64}):/.exec(reason);
  const httpStatus =
    closeCode >= 4000 && closeCode < 5000 ? closeCode - 4000 : SPECIAL_CLOSE_STATUS.get(closeCode);
  if (!match?.[1]) {
    return new ProtocolError(
      `the exec stream closed with ${closeCode}${reason ? ` (${reason.slice(0, QUOTE_CHARS)})` : ''}, not a router close`,
    );
  }
  return errorForCode(match[1], `router closed the stream: ${reason.slice(0, QUOTE_CHARS)}`, {
    ...(httpStatus === undefined ? {} : { httpStatus }),
  });
}
