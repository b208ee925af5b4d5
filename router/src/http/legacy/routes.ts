/**
 * The legacy contract of upstream's router: `X-Sandbox-ID` / `-Namespace` / `-Port` headers,
 * errors as `{"detail": …}`. `X-Sandbox-Port` equal to the agent's legacy port (8888, what the
 * old client sends) means "the agent": the five runtime calls are translated to gRPC when the pod
 * runs a Sandbank agent, and everything else (other ports, other paths, pods without an agent)
 * is proxied as plain HTTP, streaming.
 */
import { Router } from 'express';
import type { Request, Response } from 'express';
import type { RouterContext } from '../../context.js';
import { proxyHttp } from '../proxy.js';
import { sandboxRoute } from '../pipeline.js';
import type { Scope } from '../pipeline.js';
import { legacyTarget } from '../validate.js';
import type { LegacyTarget } from '../validate.js';
import { comparePodIpHint } from './pod-ip-hint.js';
import { pyUnquote } from './python.js';
import { download, execute, exists, list, upload } from './translate.js';
import type { LegacyCall } from './translate.js';

type Translation = (req: Request, res: Response, call: LegacyCall) => Promise<void>;

/**
 * The path part of `/download/<path>` as the python-runtime sees it: the server decodes the URL
 * path once and the route handler `unquote`s it again.
 */
function runtimePath(req: Request, prefix: string): string {
  const url = req.originalUrl;
  const q = url.indexOf('?');
  const pathname = q < 0 ? url : url.slice(0, q);
  return pyUnquote(pyUnquote(pathname.slice(prefix.length)));
}

export function legacyRoutes(ctx: RouterContext): Router {
  const router = Router();
  const route = (name: string, translation: Translation | undefined) =>
    sandboxRoute(
      ctx,
      { surface: 'legacy', route: name, style: 'legacy', target: legacyTarget },
      async (req: Request, res: Response, scope: Scope<LegacyTarget>) => {
        const target = scope.target;
        const port = target.port ?? ctx.agentPorts.legacyPort;
        const endpoint = scope.resolve();
        comparePodIpHint(ctx, target.podIpHint, endpoint);
        if (
          translation &&
          port === ctx.agentPorts.legacyPort &&
          (await ctx.gateway.protocol(endpoint)) === 'grpc'
        ) {
          const { agent, options } = await scope.connect();
          await translation(req, res, {
            agent,
            options,
            maxJsonBytes: ctx.limits.maxJsonBytes,
            maxBodyBytes: ctx.limits.maxBodyBytes,
            outputBudget: ctx.outputBudget,
          });
          return;
        }
        await proxyHttp(req, res, scope, endpoint, {
          port,
          // The agent's REST API checks the pod's credential as its gRPC API does; other ports are
          // the sandbox's own servers, which get no credential.
          authorization: port === ctx.agentPorts.legacyPort ? ctx.gateway.authorization(endpoint) : undefined,
          maxBodyBytes: ctx.limits.maxBodyBytes,
          connectTimeoutMs: Math.min(5_000, Math.max(1, scope.deadline - Date.now())),
          log: ctx.log,
          metrics: ctx.metrics,
        });
      },
    );

  router.post('/execute', route('/execute', execute));
  router.post('/upload', route('/upload', upload));
  const paths: readonly [string, (res: Response, c: LegacyCall, path: string) => Promise<void>][] = [
    ['download', download],
    ['list', list],
    ['exists', exists],
  ];
  for (const [name, call] of paths) {
    const prefix = `/${name}/`;
    const handler = route(`/${name}/{path}`, (req, res, c) => call(res, c, runtimePath(req, prefix)));
    router.get(`/${name}/*path`, handler);
    // The empty path: upstream's SDK sends `list(".")` as `GET /list/` (urllib3 drops the dot
    // segment). express matches `/list` here too, which the runtime answers with a redirect: that
    // one goes on to the pod as before.
    router.get(prefix, (req, res, next) => {
      if (req.path === prefix) void handler(req, res, next);
      else next();
    });
  }
  // Anything else that names a sandbox goes to the pod as plain HTTP, as upstream's router does.
  const passthrough = route('*', undefined);
  router.use((req, res, next) => {
    if (req.headers['x-sandbox-id'] === undefined) {
      next();
      return;
    }
    void passthrough(req, res, next);
  });
  return router;
}
