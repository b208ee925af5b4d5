/** Configuration from the environment: defaults, legacy variables, errors naming the variable. */
import { childEnvironment, loadConfig, tokenDigest } from '../../src/config.js';

/** The explicit opt-out, so these cases test one setting at a time (default deny is tested below). */
const open = { SANDBANK_AGENT_INSECURE_NO_AUTH: 'true' };

it('has the documented defaults', () => {
  expect(loadConfig(open)).toMatchObject({
    host: '0.0.0.0',
    grpcPort: 8889,
    restPort: 8888,
    workspace: '/workspace',
    maxProcesses: 64,
    defaultTimeoutMs: 300_000,
    killGraceMs: 2000,
    runMaxOutputBytes: 1048576,
    drainTimeoutMs: 10_000,
    tokenSha256: undefined,
    insecureNoAuth: true,
    logLevel: 'info',
  });
});

it('honours the legacy python-runtime variables, with Sandbank ones taking precedence', () => {
  expect(
    loadConfig({ ...open, SANDBOX_BASE_DIR: '/app', SANDBOX_EXEC_TIMEOUT_SECONDS: '2.5' }),
  ).toMatchObject({
    workspace: '/app',
    defaultTimeoutMs: 2500,
  });
  expect(
    loadConfig({
      ...open,
      SANDBOX_BASE_DIR: '/app',
      SANDBANK_AGENT_WORKSPACE: '/w',
      SANDBANK_AGENT_DEFAULT_TIMEOUT_MS: '7',
    }),
  ).toMatchObject({ workspace: '/w', defaultTimeoutMs: 7 });
});

it('treats empty values as unset', () => {
  expect(loadConfig({ ...open, SANDBANK_AGENT_GRPC_PORT: '', SANDBOX_BASE_DIR: '  ' }).grpcPort).toBe(8889);
});

it.each([
  [{ SANDBANK_AGENT_GRPC_PORT: '70000' }, /SANDBANK_AGENT_GRPC_PORT/],
  [{ SANDBANK_AGENT_REST_PORT: 'http' }, /SANDBANK_AGENT_REST_PORT/],
  [{ SANDBANK_AGENT_WORKSPACE: 'relative/dir' }, /SANDBANK_AGENT_WORKSPACE: must be an absolute path/],
  [{ SANDBANK_AGENT_MAX_PROCESSES: '0' }, /SANDBANK_AGENT_MAX_PROCESSES/],
  [{ SANDBANK_AGENT_TOKEN_SHA256: 'abc' }, /SANDBANK_AGENT_TOKEN_SHA256: must be 64 hex digits/],
  [{ SANDBANK_AGENT_LOG_LEVEL: 'loud' }, /SANDBANK_AGENT_LOG_LEVEL/],
  [{ SANDBOX_EXEC_TIMEOUT_SECONDS: '-1' }, /SANDBOX_EXEC_TIMEOUT_SECONDS/],
  [{ SANDBANK_AGENT_INSECURE_NO_AUTH: 'yes' }, /SANDBANK_AGENT_INSECURE_NO_AUTH: must be true or false/],
])('refuses %j naming the variable', (env, message) => {
  expect(() => loadConfig({ ...open, ...env })).toThrow(message);
});

it('refuses to run with no credential unless the opt-out is set, and lets a digest win over it', () => {
  expect(() => loadConfig({})).toThrow(/SANDBANK_AGENT_TOKEN_SHA256: required/);
  expect(() => loadConfig({ SANDBANK_AGENT_INSECURE_NO_AUTH: 'false' })).toThrow(
    /set SANDBANK_AGENT_INSECURE_NO_AUTH=true/,
  );
  expect(() => loadConfig({ SANDBANK_AGENT_TOKEN_SHA256: '' })).toThrow(
    /SANDBANK_AGENT_TOKEN_SHA256: required/,
  );
  const both = loadConfig({ ...open, SANDBANK_AGENT_TOKEN_SHA256: tokenDigest('x') });
  expect(both.tokenSha256?.toString('hex')).toBe(tokenDigest('x'));
});

it('parses the token digest and keeps agent settings out of child environments', () => {
  expect(loadConfig({ SANDBANK_AGENT_TOKEN_SHA256: tokenDigest('x') }).tokenSha256?.toString('hex')).toBe(
    tokenDigest('x'),
  );
  expect(
    childEnvironment({
      PATH: '/bin',
      SANDBANK_AGENT_TOKEN_SHA256: 'h',
      SANDBANK_AGENT_INSECURE_NO_AUTH: 'true',
      HOME: '/w',
    }),
  ).toEqual({
    PATH: '/bin',
    HOME: '/w',
  });
});
