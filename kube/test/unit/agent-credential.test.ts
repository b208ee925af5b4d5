import {
  AGENT_CREDENTIAL_ANNOTATION,
  AgentCredentialError,
  agentToken,
  agentTokenDigest,
  checkAgentKey,
  credentialAnnotation,
  parseCredentialAnnotation,
} from '../../src/agent-credential.js';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const NONCE = Buffer.from(Array.from({ length: 16 }, (_, i) => 0xa0 + i));
const ANNOTATION = 'v1.oKGio6SlpqeoqaqrrK2urw';

describe('agent credentials', () => {
  // Computed independently (Python's hmac, hashlib and base64 modules) from the formula in the
  // module's header, so the derivation cannot drift from what the docs say.
  it('derives the known vector', () => {
    expect(credentialAnnotation(NONCE)).toBe(ANNOTATION);
    const token = agentToken(KEY, 'team-a', ANNOTATION);
    expect(token).toBe('GrTAGVxfK5RVKza3GFJN9vSHnT-H4aih1qAb892gT94');
    expect(agentTokenDigest(token)).toBe('ba2c28e0772a8955a03e62232617b6ad3aafd46d4139c14ae1d8d82fead3c5c3');
  });

  it('binds the namespace: the same nonce in another namespace is another token', () => {
    expect(agentToken(KEY, 'team-b', ANNOTATION)).toBe('S8bEi8CMknDIDQt4Aj7Sme7zJZob2_0Ri7V-BCqLKRY');
    expect(agentToken(KEY, 'team-b', ANNOTATION)).not.toBe(agentToken(KEY, 'team-a', ANNOTATION));
  });

  it('gives every fresh annotation its own nonce, and another key another token', () => {
    const a = credentialAnnotation();
    const b = credentialAnnotation();
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{22}$/);
    expect(a).not.toBe(b);
    expect(agentToken(KEY, 'team-a', a)).not.toBe(agentToken(KEY, 'team-a', b));
    const other = Buffer.alloc(32, 7);
    expect(agentToken(other, 'team-a', ANNOTATION)).not.toBe(agentToken(KEY, 'team-a', ANNOTATION));
  });

  it.each([
    ['', /must be "v1\."/],
    ['v1.', /must be "v1\."/],
    ['v2.oKGio6SlpqeoqaqrrK2urw', /must be "v1\."/],
    ['v1.oKGio6SlpqeoqaqrrK2ur', /must be "v1\."/], // 21 characters
    ['v1.oKGio6SlpqeoqaqrrK2urwA', /must be "v1\."/], // 23 characters
    ['v1.oKGio6SlpqeoqaqrrK2ur+', /must be "v1\."/], // base64, not base64url
    ['v1.oKGio6SlpqeoqaqrrK2urw==', /must be "v1\."/], // padded
    [' v1.oKGio6SlpqeoqaqrrK2urw', /must be "v1\."/],
    ['v1.oKGio6SlpqeoqaqrrK2urx', /canonical/], // same 16 bytes, non-zero trailing bits
  ])('rejects the annotation %j, naming it', (value, problem) => {
    expect(() => parseCredentialAnnotation(value)).toThrow(AgentCredentialError);
    expect(() => parseCredentialAnnotation(value)).toThrow(AGENT_CREDENTIAL_ANNOTATION);
    expect(() => parseCredentialAnnotation(value)).toThrow(problem);
    expect(() => agentToken(KEY, 'team-a', value)).toThrow(AgentCredentialError);
  });

  it('refuses keys under 32 bytes and namespaces that cannot be framed', () => {
    expect(() => checkAgentKey(Buffer.alloc(31))).toThrow(/31 bytes; it must be at least 32/);
    expect(() => agentToken(Buffer.alloc(16), 'team-a', ANNOTATION)).toThrow(AgentCredentialError);
    expect(() => checkAgentKey(Buffer.alloc(64))).not.toThrow();
    expect(() => agentToken(KEY, '', ANNOTATION)).toThrow(/namespace/);
    expect(() => agentToken(KEY, 'a\0b', ANNOTATION)).toThrow(/namespace/);
    expect(() => credentialAnnotation(Buffer.alloc(8))).toThrow(/16 bytes/);
  });
});
