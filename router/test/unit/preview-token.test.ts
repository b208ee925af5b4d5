/** Preview link tokens: what verifies, what does not, and when a link expires. */
import { RouterError } from '../../src/errors.js';
import { signPreview, verifyPreview } from '../../src/ports/preview-token.js';
import type { PreviewGrant, PreviewKeys } from '../../src/ports/preview-token.js';

const KEYS: PreviewKeys = { signingKeyId: 'a', keys: new Map([['a', Buffer.alloc(32, 9)]]) };
const GRANT: PreviewGrant = {
  namespace: 'team-a',
  claim: 'web',
  claimUid: '0b6f6c1e-5f7c-4d0e-9d7e-3f1a2b3c4d5e',
  port: 3000,
  expiresAt: 1_800_000_000_000,
};

function refusal(token: string, now = GRANT.expiresAt - 1): string {
  try {
    verifyPreview(KEYS, token, now);
  } catch (error) {
    if (error instanceof RouterError) return `${error.code}: ${error.message}`;
    throw error;
  }
  return 'accepted';
}

describe('preview tokens', () => {
  test('a signed token verifies to its grant until the second it expires', () => {
    const token = signPreview(KEYS, GRANT);
    expect(verifyPreview(KEYS, token, GRANT.expiresAt - 1)).toEqual(GRANT);
    expect(refusal(token, GRANT.expiresAt)).toMatch(/^unauthenticated: preview link: expired/);
  });

  test('malformed, truncated, extended or oversized tokens are refused as one kind of forgery', () => {
    const token = signPreview(KEYS, GRANT);
    const [payload, mac] = token.split('.') as [string, string];
    for (const bad of [
      '',
      payload,
      `${payload}.`,
      `.${mac}`,
      `${payload}.${mac.slice(0, -2)}`,
      `${payload}.${mac}AA`,
      `${payload}.${mac}.x`,
      `${payload}x.${mac}`,
      `${'A'.repeat(2000)}.${mac}`,
    ]) {
      expect(refusal(bad)).toMatch(/^unauthenticated: preview link: not a valid link token/);
    }
  });

  test('every field is covered by the mac', () => {
    const [payload, mac] = signPreview(KEYS, GRANT).split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    for (const [field, value] of Object.entries({
      ns: 'team-b',
      c: 'other',
      u: 'x',
      p: 3001,
      e: 1_900_000_000,
    })) {
      const forged = Buffer.from(JSON.stringify({ ...claims, [field]: value })).toString('base64url');
      expect(refusal(`${forged}.${mac}`)).toMatch(/not a valid link token/);
    }
  });
});
