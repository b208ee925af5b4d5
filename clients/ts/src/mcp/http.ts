/**
 * `sandbank mcp --http <port>`: the MCP streamable HTTP transport on `/mcp`, one MCP session (and
 * so one claim) per client that initializes, at most `maxSessions` at once. A session ends, and its
 * claim is deleted, when its client sends DELETE, when it idles out (an HTTP client can vanish
 * without a word: the slot must come back), or when the server stops.
 *
 * Every request must carry `Authorization: Bearer <$SANDBANK_MCP_TOKEN>` when that is set (always,
 * beyond loopback). On loopback the Host header must name loopback too: a web page the user opens
 * cannot reach the port through a DNS name rebound to 127.0.0.1.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isLoopbackHost } from '../transport/insecure.js';
import { errorText } from './claim-session.js';
import type { HttpOptions } from './options.js';
import { createSessionServer, type SessionServerOptions } from './server.js';
import { WRITE_CAP_CHARS } from './tools.js';

/**
 * Largest request body: a write_file of WRITE_CAP_CHARS characters, each escaped as `\uXXXX` at
 * worst, with room for the rest of the message. Larger bodies are refused (413) unread.
 */
const MAX_BODY_BYTES = 6 * WRITE_CAP_CHARS + (64 << 10);

/** The one path the endpoint serves. */
export const MCP_PATH = '/mcp';

interface LiveSession {
  /** Closes the transport and the server, deletes the claim. Idempotent. */
  readonly end: () => Promise<void>;
  readonly transport: StreamableHTTPServerTransport;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Whether `header` is `Bearer <token>`, compared in constant time (digests of equal length). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(header ?? '')?.[1];
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

/** A JSON-RPC error answer, as the SDK's transport shapes its own. */
function refuse(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

/** Host headers a loopback listener answers (with its port). */
function loopbackHosts(host: string, port: number): string[] {
  const named = host.includes(':') ? `[${host.replace(/^\[|\]$/g, '')}]` : host;
  return [...new Set([named, 'localhost', '127.0.0.1', '[::1]'])].map((h) => `${h}:${port}`);
}

export interface HttpServing {
  /** `http://host:port/mcp`. */
  readonly url: string;
  /** Resolves once the server stopped (after `stop` fired) and every session's claim is deleted. */
  readonly done: Promise<void>;
}

export async function serveHttp(
  options: SessionServerOptions,
  http: HttpOptions,
  stop: AbortSignal,
): Promise<HttpServing> {
  /** By session id, once initialized. */
  const sessions = new Map<string, LiveSession>();
  /** Every session, initialized or being opened: what the bound counts and a stop ends. */
  const all = new Set<LiveSession>();
  let allowedHosts: string[] | undefined;

  const endQuietly = (live: { end: () => Promise<void> }): void => {
    live.end().catch((error: unknown) => options.log(`ending a session failed: ${errorText(error)}`));
  };

  async function open(): Promise<LiveSession> {
    let ending: Promise<void> | undefined;
    const end = (): Promise<void> =>
      (ending ??= (async () => {
        if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
        all.delete(live);
        try {
          await session.close();
        } catch (error) {
          options.log(
            `session ${transport.sessionId ?? '(new)'}: deleting its claim failed: ${errorText(error)}`,
          );
        } finally {
          await server.close();
        }
      })());
    const { server, session } = createSessionServer({ ...options, onIdle: () => endQuietly({ end }) });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      maxRequestBodySize: MAX_BODY_BYTES,
      onsessioninitialized: (id) => {
        sessions.set(id, live);
      },
      ...(allowedHosts ? { enableDnsRebindingProtection: true, allowedHosts } : {}),
    });
    // Chained by connect(): a DELETE, or server.close(), ends the session.
    transport.onclose = () => endQuietly({ end });
    const live: LiveSession = { end, transport };
    all.add(live);
    await server.connect(transport);
    return live;
  }

  /** The refusal a request gets before any session sees it, if any. */
  function refusal(req: IncomingMessage): [number, string, Record<string, string>?] | undefined {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== MCP_PATH) return [404, `not found: the MCP endpoint is ${MCP_PATH}`];
    if (!bearerMatches(req.headers.authorization, http.token))
      return [401, 'unauthorized: send Authorization: Bearer <token>', { 'www-authenticate': 'Bearer' }];
    const id = req.headers['mcp-session-id'];
    if (typeof id === 'string')
      return sessions.has(id)
        ? undefined
        : [404, 'session not found: it ended (idle, deleted or server restart); initialize again'];
    if (stop.aborted) return [503, 'the server is stopping'];
    if (all.size >= http.maxSessions)
      return [503, `too many sessions (at most ${http.maxSessions}); end one with DELETE`];
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refused = refusal(req);
    if (refused) {
      refuse(res, ...refused);
      return;
    }
    const id = req.headers['mcp-session-id'];
    const known = typeof id === 'string' ? sessions.get(id) : undefined;
    if (known) {
      await known.transport.handleRequest(req, res);
      return;
    }
    const live = await open();
    await live.transport.handleRequest(req, res);
    // Not an initialize request: the transport refused it and no session exists to keep.
    if (live.transport.sessionId === undefined) await live.end();
  }

  const listener = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.log(`HTTP ${req.method ?? '?'} ${req.url ?? ''}: ${errorText(error)}`);
      if (!res.headersSent) refuse(res, 500, 'internal error');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(http.port, http.host, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  const { port } = listener.address() as AddressInfo;
  if (isLoopbackHost(http.host)) allowedHosts = loopbackHosts(http.host, port);
  const urlHost = http.host.includes(':') ? `[${http.host}]` : http.host;

  const done = new Promise<void>((resolve) => {
    if (stop.aborted) resolve();
    else stop.addEventListener('abort', () => resolve(), { once: true });
  }).then(async () => {
    const closed = new Promise<void>((r) => listener.close(() => r()));
    listener.closeAllConnections();
    const ends = [...all].map((s) => s.end().catch((error: unknown) => options.log(errorText(error))));
    await Promise.all([closed, ...ends]);
  });
  return { url: `http://${urlHost}:${port}${MCP_PATH}`, done };
}
