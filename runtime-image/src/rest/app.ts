/**
 * `buildLegacyApp(deps)`: the python-runtime REST API (port 8888 by default) as a plain
 * `node:http` server that never listens by itself.
 *
 * Why node:http and not express: the contract is six fixed routes whose every byte must match
 * FastAPI's (status lines, JSON spacing, Python float spellings, 307 slash redirects, 405 with
 * Allow, `{"detail":"Not Found"}`), so a framework's own defaults would have to be undone one by
 * one; and the agent's idle memory counts in every sandbox, where express and its dependency
 * tree cost a few MB for nothing.
 *
 * Routing follows Starlette: the path is percent-decoded once before matching (the routes then
 * decode their parameter a second time, as upstream does), a path that matches no route but
 * would with its trailing slash toggled is redirected (307), a known path with another method is
 * 405.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AgentDeps } from '../deps.js';
import { bearerMatches } from '../services/auth.js';
import { handleExecute } from './execute.js';
import { handleDownload, handleExists, handleList, handleUpload } from './files.js';
import { pyUnquote } from '@sandbank/proto';
import { sendJson } from './respond.js';

type Handler = (deps: AgentDeps, req: IncomingMessage, res: ServerResponse, param: string) => Promise<void>;

interface Route {
  readonly method: 'GET' | 'POST';
  /** Exact path, or a prefix ending in '/' whose rest is the parameter (Starlette's `{p:path}`). */
  readonly path: string;
  readonly prefix: boolean;
  readonly handle: Handler;
}

const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: '/',
    prefix: false,
    handle: async (_deps, _req, res) =>
      sendJson(res, 200, { status: 'ok', message: 'Sandbox Runtime is active.' }),
  },
  {
    method: 'POST',
    path: '/execute',
    prefix: false,
    handle: (deps, req, res) => handleExecute(deps, req, res),
  },
  {
    method: 'POST',
    path: '/upload',
    prefix: false,
    handle: (deps, req, res) => handleUpload(deps, req, res),
  },
  {
    method: 'GET',
    path: '/download/',
    prefix: true,
    handle: (deps, _req, res, p) => handleDownload(deps, res, p),
  },
  { method: 'GET', path: '/list/', prefix: true, handle: (deps, _req, res, p) => handleList(deps, res, p) },
  {
    method: 'GET',
    path: '/exists/',
    prefix: true,
    handle: (deps, _req, res, p) => handleExists(deps, res, p),
  },
];

function matching(path: string): Route[] {
  return ROUTES.filter((r) => (r.prefix ? path.startsWith(r.path) : path === r.path));
}

/** How long the agent keeps an idle keep-alive connection: well past any client's idle timeout. */
const IDLE_CONNECTION_MS = 65_000;

export function buildLegacyApp(deps: AgentDeps): Server {
  const server = createServer((req, res) => {
    void dispatch(deps, req, res).catch((error: unknown) => {
      deps.logger.error({ err: error, url: req.url }, 'legacy REST request failed');
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '21' });
        res.end('Internal Server Error');
      } else {
        res.destroy();
      }
    });
  });
  // Uploads and downloads may take long; the per-request timer of node:http would cut them.
  server.requestTimeout = 0;
  // The client closes an idle connection, never the agent first: Node's clients (the router's
  // legacy proxy among them) drop an idle keep-alive socket after 5 s, node:http's server after
  // 5 s too, and a client whose timer runs late (a loaded machine) would send its next request
  // into the agent's close, a "socket hang up". The cost: an idle socket held up to this long by
  // a client that never closes it.
  server.keepAliveTimeout = IDLE_CONNECTION_MS;
  return server;
}

async function dispatch(deps: AgentDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawUrl = req.url ?? '/';
  const queryAt = rawUrl.indexOf('?');
  const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
  const query = queryAt < 0 ? '' : rawUrl.slice(queryAt);
  const path = pyUnquote(rawPath);
  const method = req.method ?? 'GET';

  const candidates = matching(path);
  const route = candidates.find((r) => r.method === method);
  if (!route) {
    req.resume();
    if (candidates.length > 0) {
      const allow = [...new Set(candidates.map((r) => r.method))].join(', ');
      sendJson(res, 405, { detail: 'Method Not Allowed' }, { allow });
      return;
    }
    const toggled = path.endsWith('/') ? path.replace(/\/+$/, '') : `${path}/`;
    if (path !== '/' && matching(toggled).length > 0) {
      const location = `http://${req.headers.host ?? 'localhost'}${toggled}${query}`;
      res.writeHead(307, { location, 'content-length': '0' });
      res.end();
      return;
    }
    sendJson(res, 404, { detail: 'Not Found' });
    return;
  }
  if (deps.tokenSha256 && !(route.path === '/' && !route.prefix)) {
    const header = req.headers.authorization;
    if (!bearerMatches(header, deps.tokenSha256)) {
      req.resume();
      sendJson(res, 401, { detail: 'Not authenticated' }, { 'www-authenticate': 'Bearer' });
      return;
    }
  }
  const param = route.prefix ? pyUnquote(path.slice(route.path.length)) : '';
  await route.handle(deps, req, res, param);
}
