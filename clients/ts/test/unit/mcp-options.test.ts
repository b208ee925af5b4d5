/**
 * `sandbank mcp`'s command line: what it claims, how it listens, and the refusals that keep an
 * HTTP endpoint from being opened to the network without a token. Also `runMcp`'s exit codes for
 * a usage error and --help (nothing is claimed or served then).
 */
import { PassThrough } from 'node:stream';
import { ConfigurationError } from '../../src/client-errors.js';
import { runMcp } from '../../src/mcp/index.js';
import { parseMcpOptions } from '../../src/mcp/options.js';

const TOKEN = 'a-bearer-token-long-enough';

test('stdio by default, with the connection flags as the claim options and the router token from the environment', () => {
  const options = parseMcpOptions(
    ['--pool', 'warm', '--namespace', 'agents', '--router-url', 'https://r.example', '--context', 'prod'],
    { SANDBANK_ROUTER_TOKEN: 'rt' },
  );
  expect(options.http).toBeUndefined();
  expect(options.idleTimeoutMs).toBe(600_000);
  expect(options.claim).toMatchObject({
    pool: 'warm',
    namespace: 'agents',
    routerUrl: 'https://r.example',
    context: 'prod',
    token: 'rt',
  });
});

test('the gateway and CA flags reach the claim options', () => {
  const options = parseMcpOptions(
    ['--pool', 'warm', '--gateway', 'sandbank', '--gateway-namespace', 'edge', '--ca-file', 'ca.pem'],
    {},
  );
  expect(options.claim).toMatchObject({
    gatewayName: 'sandbank',
    gatewayNamespace: 'edge',
    caFile: 'ca.pem',
  });
});

test('--http listens on loopback unless told otherwise; the idle timeout takes fractions of a second', () => {
  const options = parseMcpOptions(['--template', 't', '--http', '0', '--idle-timeout', '1.5'], {
    SANDBANK_MCP_TOKEN: TOKEN,
  });
  expect(options.http).toEqual({
    port: 0,
    host: '127.0.0.1',
    token: TOKEN,
    tokenGenerated: false,
    maxSessions: 8,
  });
  expect(options.idleTimeoutMs).toBe(1_500);
});

test('--http on loopback without $SANDBANK_MCP_TOKEN still wants a token: a random one per run', () => {
  // Every local user reaches loopback: without a token any of them would run code on our credentials.
  const first = parseMcpOptions(['--pool', 'p', '--http', '0'], {}).http;
  const second = parseMcpOptions(['--pool', 'p', '--http', '0'], {}).http;
  expect(first?.tokenGenerated).toBe(true);
  expect(first?.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
  expect(second?.token).not.toBe(first?.token);
});

test.each([
  [['--http', '8080'], {}, '--template or --pool'],
  [['--pool', 'p', '--bogus'], {}, "Unknown option '--bogus'"],
  [['--pool', 'p', '--namespace', 'Not_A_Label'], {}, 'namespace: must be a DNS-1123 label'],
  [['--pool', 'p', '--gateway', 'Bad Gateway'], {}, 'gatewayName: must be a DNS-1123 name'],
  [['--pool', 'Bad Pool'], {}, 'pool: must be a DNS-1123 name'],
  [['--pool', 'p', '--http', 'eighty'], {}, '--http: must be a number'],
  [['--pool', 'p', '--http', '70000'], {}, '--http: Too big'],
  [['--pool', 'p', '--idle-timeout', '0'], {}, '--idle-timeout: Too small'],
  [['--pool', 'p', '--host', '0.0.0.0'], {}, 'need --http'],
  [['--pool', 'p', '--http', '1', '--host', '0.0.0.0'], { SANDBANK_MCP_TOKEN: TOKEN }, '--allow-remote'],
  [['--pool', 'p', '--http', '1', '--host', '0.0.0.0', '--allow-remote'], {}, 'needs $SANDBANK_MCP_TOKEN'],
  [['--pool', 'p', '--http', '1'], { SANDBANK_MCP_TOKEN: 'short' }, 'at least 16 characters'],
])('%j with %j is refused: %s', (args, env, message) => {
  let error: unknown;
  try {
    parseMcpOptions(args, env);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(ConfigurationError);
  expect((error as Error).message).toContain(message);
});

test('a remote bind with --allow-remote and a token is accepted, and the token is required of clients', () => {
  const options = parseMcpOptions(['--pool', 'p', '--http', '9000', '--host', '0.0.0.0', '--allow-remote'], {
    SANDBANK_MCP_TOKEN: TOKEN,
  });
  expect(options.http).toMatchObject({ host: '0.0.0.0', port: 9000, token: TOKEN });
});

function io(): { stderr: PassThrough; text: () => string; run: (args: string[]) => Promise<number> } {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    stderr,
    text: () => text,
    run: (args) => runMcp(args, { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} }),
  };
}

test('runMcp: a usage error is exit code 2 with one line naming the flag; --help is 0 with the usage', async () => {
  const bad = io();
  expect(await bad.run(['--http', '1'])).toBe(2);
  expect(bad.text()).toBe('sandbank mcp: --template or --pool: one is required (see --help)\n');
  const help = io();
  expect(await help.run(['--help'])).toBe(0);
  expect(help.text()).toContain('Usage: sandbank mcp');
});
