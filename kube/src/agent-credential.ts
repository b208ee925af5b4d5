/**
 * Per-pod agent credentials, derived from one secret key: the controller mints them, the router
 * re-derives them, and both import this one module so the two can never disagree.
 *
 * For each pod it creates, the controller draws a random 128-bit nonce and writes it on the pod
 * as the annotation `sandbank.dev/agent-credential: v1.<nonce, base64url>`. The pod's token is
 *
 *     base64url(HMAC-SHA256(key, "sandbank-agent-credential/v1\0" + namespace + "\0" + nonce))
 *
 * with the nonce as its 16 raw bytes. The agent in the pod gets only the token's SHA-256
 * (SANDBANK_AGENT_TOKEN_SHA256); the token itself is in no object and no environment, so reading
 * a Pod (or being the sandbox) tells nobody another pod's token. The namespace is part of the
 * message so that a nonce copied onto a pod of another namespace yields another token: whoever
 * may edit pods in one namespace cannot make the router present a token of another.
 *
 * Pure computation (no I/O): it lives in the kube layer only because both the controller and the
 * router may import it from here.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';

/** The pod annotation that carries the nonce. */
export const AGENT_CREDENTIAL_ANNOTATION = 'sandbank.dev/agent-credential';
/** The agent's environment variable holding the hex SHA-256 of its token. */
export const AGENT_TOKEN_DIGEST_ENV = 'SANDBANK_AGENT_TOKEN_SHA256';
/** The shortest agent key accepted: 256 bits, HMAC-SHA256's own strength. */
export const AGENT_KEY_MIN_BYTES = 32;
/** 128 bits: two pods drawing the same nonce is out of reach. */
export const AGENT_NONCE_BYTES = 16;

const CONTEXT = Buffer.from('sandbank-agent-credential/v1\0', 'utf8');
const SEPARATOR = Buffer.from([0]);

/** `v1.` and exactly the 22 base64url characters of 16 bytes, unpadded. */
const AnnotationSchema = z
  .string()
  .regex(/^v1\.[A-Za-z0-9_-]{22}$/, `must be "v1." followed by ${AGENT_NONCE_BYTES} bytes in base64url`)
  .transform((value, ctx) => {
    const encoded = value.slice(3);
    const nonce = Buffer.from(encoded, 'base64url');
    // 22 characters carry 132 bits: only the canonical spelling (last 4 bits zero) is one nonce.
    if (nonce.length !== AGENT_NONCE_BYTES || nonce.toString('base64url') !== encoded) {
      ctx.addIssue({ code: 'custom', message: 'is not a canonical base64url nonce' });
      return z.NEVER;
    }
    return nonce;
  });

/** A credential annotation, agent key or namespace that cannot be used; the message names it. */
export class AgentCredentialError extends Error {
  override readonly name = 'AgentCredentialError';
}

/** The annotation value for `nonce` (a fresh random one by default). */
export function credentialAnnotation(nonce: Buffer = randomBytes(AGENT_NONCE_BYTES)): string {
  if (nonce.length !== AGENT_NONCE_BYTES) {
    throw new AgentCredentialError(`the nonce must be ${AGENT_NONCE_BYTES} bytes, not ${nonce.length}`);
  }
  return `v1.${nonce.toString('base64url')}`;
}

/** The nonce in an annotation value; AgentCredentialError naming the annotation otherwise. */
export function parseCredentialAnnotation(value: string): Buffer {
  const parsed = AnnotationSchema.safeParse(value);
  if (!parsed.success) {
    const shown = JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
    throw new AgentCredentialError(
      `annotation ${AGENT_CREDENTIAL_ANNOTATION} ${shown}: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/** Throws AgentCredentialError when `key` is too short to be an agent key. */
export function checkAgentKey(key: Buffer): void {
  if (key.length < AGENT_KEY_MIN_BYTES) {
    throw new AgentCredentialError(
      `the agent key is ${key.length} bytes; it must be at least ${AGENT_KEY_MIN_BYTES} random bytes`,
    );
  }
}

/** The bearer token of the pod in `namespace` whose annotation is `annotation`. */
export function agentToken(key: Buffer, namespace: string, annotation: string): string {
  checkAgentKey(key);
  if (namespace === '' || namespace.includes('\0')) {
    throw new AgentCredentialError(`namespace ${JSON.stringify(namespace)} cannot bind a credential`);
  }
  const nonce = parseCredentialAnnotation(annotation);
  return createHmac('sha256', key)
    .update(CONTEXT)
    .update(namespace, 'utf8')
    .update(SEPARATOR)
    .update(nonce)
    .digest('base64url');
}

/** The value of SANDBANK_AGENT_TOKEN_SHA256 that accepts `token`: its SHA-256, hex. */
export function agentTokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
