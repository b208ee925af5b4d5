/**
 * `sandbank mcp`: an MCP server whose tools run in a Sandbank sandbox, one claim per MCP session,
 * over stdio (the default: an MCP host starts it as a process) or streamable HTTP (`--http`).
 * `runMcp` is the command: it returns the process's exit code (0 after a clean end; 2 for a usage
 * error; 1 when serving failed) and deletes every claim it made before it returns, also on
 * SIGINT, SIGTERM and SIGHUP while it runs.
 */
import type { Readable, Writable } from 'node:stream';
import { ConfigurationError } from '../client-errors.js';
import { errorText } from './claim-session.js';
import { serveHttp } from './http.js';
import { MCP_TOKEN_ENV, MCP_USAGE, parseMcpOptions } from './options.js';
import { serveStdio } from './stdio.js';

export { MCP_TOKEN_ENV, MCP_USAGE } from './options.js';

/** What the command reads and writes: the process's own streams and environment, or a test's. */
export interface McpIo {
  /** The MCP messages from the host (stdio transport). */
  readonly stdin: Readable;
  /** The MCP messages to the host (stdio transport): nothing else is written there. */
  readonly stdout: Writable;
  /** Usage, errors and one line per claim created or deleted. */
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
  /** Ends serving as a signal would (tests; an embedding program). */
  readonly signal?: AbortSignal;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export async function runMcp(args: readonly string[], io: McpIo): Promise<number> {
  const say = (line: string): void => void io.stderr.write(`sandbank mcp: ${line}\n`);
  let options;
  try {
    options = parseMcpOptions(args, io.env);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    say(`${error.message} (see --help)`);
    return 2;
  }
  if (options.help) {
    io.stderr.write(`${MCP_USAGE}\n`);
    return 0;
  }
  const stop = new AbortController();
  const onSignal = (name: NodeJS.Signals): void => {
    say(`${name}: stopping`);
    stop.abort();
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  const onAbort = (): void => stop.abort();
  io.signal?.addEventListener('abort', onAbort, { once: true });
  if (io.signal?.aborted) stop.abort();
  const session = { claim: options.claim, idleTimeoutMs: options.idleTimeoutMs, log: say };
  try {
    if (options.http) {
      const serving = await serveHttp(session, options.http, stop.signal);
      say(`listening on ${serving.url}`);
      if (options.http.tokenGenerated)
        say(`bearer token for this run (set $${MCP_TOKEN_ENV} to choose one): ${options.http.token}`);
      await serving.done;
    } else {
      await serveStdio(session, io.stdin, io.stdout, stop.signal);
    }
    return 0;
  } catch (error) {
    say(errorText(error));
    return 1;
  } finally {
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
    io.signal?.removeEventListener('abort', onAbort);
  }
}
