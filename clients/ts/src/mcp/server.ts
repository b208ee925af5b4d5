/**
 * One MCP server per MCP session (the SDK binds a server to one transport): its tools, and the
 * session's claim, which the caller deletes by closing the session when the transport ends.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CreateOptions } from '../sandbox.js';
import { Sandbox } from '../sandbox.js';
import { ClaimSession } from './claim-session.js';
import { registerTools } from './tools.js';
import { CLIENT_VERSION } from '../version.js';

export interface SessionServerOptions {
  /** What the session's `Sandbox.create` gets. */
  readonly claim: CreateOptions;
  readonly idleTimeoutMs: number;
  readonly log: (line: string) => void;
  readonly onIdle?: () => void;
}

export interface SessionServer {
  readonly server: McpServer;
  readonly session: ClaimSession;
}

export function createSessionServer(options: SessionServerOptions): SessionServer {
  const session = new ClaimSession({
    create: async (signal) => {
      const sandbox = await Sandbox.create({ ...options.claim, signal });
      options.log(`claim ${sandbox.namespace}/${sandbox.claimName} created`);
      return sandbox;
    },
    idleTimeoutMs: options.idleTimeoutMs,
    log: options.log,
    ...(options.onIdle ? { onIdle: options.onIdle } : {}),
  });
  const server = new McpServer(
    { name: 'sandbank', version: CLIENT_VERSION },
    {
      instructions:
        'Tools run in one isolated Sandbank sandbox for this session: files written persist between calls until the session ends or it idles out.',
    },
  );
  registerTools(server, session);
  return { server, session };
}
