/**
 * Signed preview links: a token that opens one port of one claim (by UID) until it expires,
 * without the API token, so a browser can open a sandbox's web server.
 *
 * A token is `<payload>.<mac>`, both base64url: the payload is JSON `{v, k, ns, c, u, p, e}`
 * (version, key id, namespace, claim name, claim UID, port, expiry in seconds since the epoch) and
 * the mac is HMAC-SHA256, under the key `k` names, over a domain-separation prefix and the payload
 * exactly as sent. Keys rotate by id: the router signs with one and accepts every key it lists, so
 * a new key is added, made the signing one, and the old one removed once the longest link it
 * signed has expired. The mac is compared in constant time, before the payload is parsed.
 *
 * The token is a bearer credential for that one port: it lives in the URL path
 * (`/v1/previews/{token}/…`), so the pages of a preview find their relative links under it, and
 * the router never forwards it to the sandbox nor sets anything on its own domain for it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { DNS1123_LABEL_PATTERN } from '@sandbank/api';
import { z } from 'zod';
import { RouterError } from '../errors.js';

export interface PreviewKeys {
  /** The key new links are signed with; must be one of `keys`. */
  readonly signingKeyId: string;
  /** Every key a link may be signed with, by id. */
  readonly keys: ReadonlyMap<string, Buffer>;
}

/** What a link grants. */
export interface PreviewGrant {
  readonly namespace: string;
  readonly claim: string;
  readonly claimUid: string;
  readonly port: number;
  /** Ms since the epoch, whole seconds (the token carries seconds). */
  readonly expiresAt: number;
}

/** A key id as a Secret key may name it (the file name of a mounted key). */
export const KEY_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** An HMAC-SHA256 key shorter than this is guessable in principle; refused at startup. */
export const MIN_KEY_BYTES = 32;
/** Longer than any token the router makes (names ≤ 63, UID ≤ 128): refused before any work. */
const MAX_TOKEN_CHARS = 1024;
const DOMAIN = 'sandbank-preview-v1\n';

const dnsLabel = z.string().max(63).regex(new RegExp(DNS1123_LABEL_PATTERN));
const Payload = z.strictObject({
  v: z.literal(1),
  k: z.string().regex(KEY_ID_RE),
  ns: dnsLabel,
  c: dnsLabel,
  u: z.string().min(1).max(128),
  p: z.number().int().min(1).max(65535),
  e: z.number().int().positive(),
});

/** What is wrong with a key set (undefined: nothing); config.ts words it for its variable. */
export function previewKeysProblem(keys: PreviewKeys): string | undefined {
  for (const [id, key] of keys.keys) {
    if (!KEY_ID_RE.test(id)) return `${id}: a key id must be a Secret key ([A-Za-z0-9._-], at most 63)`;
    if (key.length < MIN_KEY_BYTES) return `${id}: a key needs at least ${MIN_KEY_BYTES} bytes`;
  }
  if (!keys.keys.has(keys.signingKeyId)) return `${keys.signingKeyId}: the signing key is not among the keys`;
  return undefined;
}

function mac(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(DOMAIN).update(payload).digest();
}

export function signPreview(keys: PreviewKeys, grant: PreviewGrant): string {
  const key = keys.keys.get(keys.signingKeyId);
  if (key === undefined) throw new Error(`preview key ${keys.signingKeyId} is not configured`);
  const payload = Buffer.from(
    JSON.stringify({
      v: 1,
      k: keys.signingKeyId,
      ns: grant.namespace,
      c: grant.claim,
      u: grant.claimUid,
      p: grant.port,
      e: Math.floor(grant.expiresAt / 1000),
    }),
    'utf8',
  ).toString('base64url');
  return `${payload}.${mac(key, payload).toString('base64url')}`;
}

const invalid = (): RouterError =>
  new RouterError('unauthenticated', 'preview link: not a valid link token (or signed with a retired key)');

/** The key id a payload names, read before the mac is checked: it only picks which key checks it. */
function keyIdOf(payload: string): string | undefined {
  try {
    const k: unknown = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { k?: unknown }).k;
    return typeof k === 'string' ? k : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The grant of a token whose mac checks out under one of `keys` and which has not expired at
 * `now`; RouterError unauthenticated otherwise (one message for every forgery, another for
 * expiry, which only a genuine link can reach).
 */
export function verifyPreview(keys: PreviewKeys, token: string, now: number): PreviewGrant {
  if (token.length > MAX_TOKEN_CHARS) throw invalid();
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) throw invalid();
  const payload = token.slice(0, dot);
  const presented = Buffer.from(token.slice(dot + 1), 'base64url');
  const keyId = keyIdOf(payload);
  const key = keyId === undefined ? undefined : keys.keys.get(keyId);
  if (key === undefined) throw invalid();
  const expected = mac(key, payload);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw invalid();
  const parsed = Payload.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  if (!parsed.success) throw invalid();
  const grant = parsed.data;
  const expiresAt = grant.e * 1000;
  if (now >= expiresAt) {
    throw new RouterError('unauthenticated', 'preview link: expired; ask for a new one');
  }
  return { namespace: grant.ns, claim: grant.c, claimUid: grant.u, port: grant.p, expiresAt };
}
