/**
 * `sandbank mcp` over stdio: one MCP session for the process's life. It ends when the host closes
 * stdin (or `stop` fires: a signal); then the claim is deleted before the promise resolves.
 */
import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createSessionServer, type SessionServerOptions } from './server.js';

export async function serveStdio(
  options: SessionServerOptions,
  stdin: Readable,
  stdout: Writable,
  stop: AbortSignal,
): Promise<void> {
  const { server, session } = createSessionServer(options);
  const ended = new Promise<string>((resolve) => {
    // The SDK's transport does not watch for EOF: the host closing the pipe ends the session.
    stdin.once('end', () => resolve('the host closed stdin'));
    stdin.once('close', () => resolve('the host closed stdin'));
    stop.addEventListener('abort', () => resolve('stopped'), { once: true });
    if (stop.aborted) resolve('stopped');
  });
  await server.connect(new StdioServerTransport(stdin, stdout));
  options.log(`${await ended}: ending the session`);
  try {
    await session.close();
  } finally {
    await server.close();
  }
}
