/** zod schemas for everything a client puts in a request line or header. */
import { DNS1123_LABEL_PATTERN, formatZodError } from '@sandbank/api';
import type { Request } from 'express';
import { z } from 'zod';
import { RouterError } from '../errors.js';
import { canonicalIp } from '../ip.js';
import type { SandboxRef } from '../resolve/index.js';

const dnsLabel = z
  .string()
  .max(63)
  .regex(
    new RegExp(DNS1123_LABEL_PATTERN),
    'must be a DNS-1123 label (lowercase letters, digits, "-"; at most 63)',
  );

const single = (v: unknown): unknown => (Array.isArray(v) ? v[0] : v);

export const TimeoutHeader = z.preprocess(single, z.coerce.number().positive().optional());

export const LegacyHeaders = z.object({
  'x-sandbox-id': z.preprocess(single, dnsLabel),
  'x-sandbox-namespace': z.preprocess(single, dnsLabel.default('default')),
  'x-sandbox-port': z.preprocess(
    single,
    z
      .string()
      .regex(/^[0-9]{1,5}$/, 'must be a port number')
      .transform(Number)
      .pipe(z.number().int().min(1).max(65535))
      .optional(),
  ),
});

const HEADER_NAMES: Record<string, string> = {
  'x-sandbox-id': 'X-Sandbox-ID',
  'x-sandbox-namespace': 'X-Sandbox-Namespace',
  'x-sandbox-port': 'X-Sandbox-Port',
};

/**
 * `X-Sandbox-Pod-IP` as upstream's SDK sends it (the pod IP from the Sandbox's status): only ever
 * compared with the pod the router resolved itself, never dialled. Dialling it would let any
 * caller aim the router at an address of its choosing (its own loopback listener, another pod).
 */
export type PodIpHint =
  { readonly kind: 'absent' } | { readonly kind: 'ip'; readonly ip: string } | { readonly kind: 'invalid' };

/** One IP literal (no zone, no list, no spaces), in canonical form; anything else is invalid. */
export function parsePodIpHint(value: string | string[] | undefined): PodIpHint {
  if (value === undefined) return { kind: 'absent' };
  const ip = typeof value === 'string' ? canonicalIp(value) : undefined;
  return ip === undefined ? { kind: 'invalid' } : { kind: 'ip', ip };
}

export interface LegacyTarget extends SandboxRef {
  readonly port: number | undefined;
  readonly podIpHint: PodIpHint;
}

/** The legacy routing headers; RouterError invalid_argument naming the header otherwise. */
export function legacyTarget(req: Request): LegacyTarget {
  if (req.headers['x-sandbox-id'] === undefined) {
    throw new RouterError('invalid_argument', 'X-Sandbox-ID: header is required (the sandbox claim name)');
  }
  const parsed = LegacyHeaders.safeParse(req.headers);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const header = HEADER_NAMES[String(first?.path[0] ?? '')] ?? 'header';
    throw new RouterError('invalid_argument', `${header}: ${first?.message ?? formatZodError(parsed.error)}`);
  }
  return {
    name: parsed.data['x-sandbox-id'],
    namespace: parsed.data['x-sandbox-namespace'],
    port: parsed.data['x-sandbox-port'],
    podIpHint: parsePodIpHint(req.headers['x-sandbox-pod-ip']),
  };
}

const V1Params = z.object({ namespace: dnsLabel, name: dnsLabel });

/** `/v1/namespaces/{namespace}/sandboxes/{name}/…` path parameters. */
/** A v1 URL's namespace and name segments, percent-decoded, as a validated target. */
export function v1TargetFromSegments(namespace: string, name: string): SandboxRef {
  let decoded: { namespace: string; name: string };
  try {
    decoded = { namespace: decodeURIComponent(namespace), name: decodeURIComponent(name) };
  } catch {
    throw new RouterError('invalid_argument', 'path: not a valid percent-encoded path');
  }
  return v1Target(decoded);
}

export function v1Target(params: Record<string, unknown>): SandboxRef {
  const parsed = V1Params.safeParse(params);
  if (!parsed.success) {
    throw new RouterError('invalid_argument', `path: ${formatZodError(parsed.error)}`);
  }
  return parsed.data;
}

/**
 * The raw remainder of the URL path after `prefix` (query removed), percent-decoded once. A path
 * that does not decode, or that holds a NUL, is invalid_argument.
 */
export function pathAfter(req: Request, prefix: string, what: string): string {
  const url = req.originalUrl;
  const q = url.indexOf('?');
  const pathname = q < 0 ? url : url.slice(0, q);
  const at = pathname.indexOf(prefix);
  const raw = at < 0 ? '' : pathname.slice(at + prefix.length);
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new RouterError('invalid_argument', `${what}: not a valid percent-encoded path`);
  }
  if (decoded.includes('\0')) throw new RouterError('invalid_argument', `${what}: must not contain NUL`);
  return decoded;
}

/** Reads a JSON body of at most `limit` bytes and parses it with `schema`. */
export async function readJson<S extends z.ZodType>(
  req: Request,
  limit: number,
  schema: S,
  signal: AbortSignal,
): Promise<z.infer<S>> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new RouterError('payload_too_large', `request body over ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (signal.aborted) break;
    size += chunk.length;
    if (size > limit) throw new RouterError('payload_too_large', `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new RouterError('invalid_argument', 'body: not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new RouterError('invalid_argument', `body: ${formatZodError(parsed.error)}`);
  return parsed.data;
}
