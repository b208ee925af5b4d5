/**
 * Background processes under `/v1/namespaces/{namespace}/sandboxes/{name}/processes`: the agent's
 * ProcessService over HTTP, beside exec and files and through the same admission (auth, namespace
 * scope, the claim's pod by UID, the caller's stream slot, deadline, metrics, the agent
 * credential).
 *
 * The agent owns the processes; nothing here holds one. A process id is checked before the router
 * dials the agent, and everything the agent answers is checked before the caller sees it
 * (agent/process-info.ts, agent/attach-stream.ts).
 *
 * Attach is a chunked HTTP response of binary frames (attach-stream.ts `encodeFrame`): a client
 * that loses it, or meets a router restart, asks again from the offset after the last byte it
 * got and loses nothing the agent still retains.
 */
import { Router } from 'express';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { formatZodError } from '@sandbank/api';
import { create, StartProcessRequestSchema } from '@sandbank/proto';
import type { Connection } from '../admission/admission.js';
import { sessionBudget } from '../admission/budget.js';
import { ATTACH_CONTENT_TYPE, checkedAttach, encodeEvent } from '../agent/attach-stream.js';
import { ProcessId, processJson, processListJson } from '../agent/process-info.js';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import { ProcessRequest, processSpec } from '../exec-spec.js';
import { SIGNALS, TerminalSize } from '../ws/frames.js';
import { drainOrClose } from './drain.js';
import { sandboxRoute } from './pipeline.js';
import type { RouteOptions, Scope } from './pipeline.js';
import { readJson, v1Target } from './validate.js';

const PREFIX = '/v1/namespaces/:namespace/sandboxes/:name/processes';
/** The metric label and OpenAPI path of the routes (never a concrete path). */
export const PROCESSES_ROUTE = '/v1/namespaces/{namespace}/sandboxes/{name}/processes';

export const StartProcessBody = ProcessRequest.extend({
  /** Keep stdin open for `…/stdin`; false: the process reads EOF at once. */
  stdin: z.boolean().default(false),
  tty: TerminalSize.optional(),
}).refine((b) => (b.command === undefined) !== (b.shell === undefined), {
  message: 'exactly one of command and shell is required',
  path: ['command'],
});

const StdinBody = z.strictObject({
  data: z.string().default(''),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
  close: z.boolean().default(false),
});
const SignalBody = z.strictObject({ signal: z.enum(['SIGHUP', 'SIGINT', 'SIGKILL', 'SIGTERM']) });
const WaitBody = z.strictObject({
  timeoutMs: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional(),
});

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const AttachQuery = z.object({
  fromOffset: z
    .string()
    .regex(/^[0-9]{1,16}$/, 'must be a non-negative integer')
    .transform(Number)
    .pipe(z.number().max(Number.MAX_SAFE_INTEGER, 'must be at most 2^53 - 1'))
    .default(0),
  follow: bool.default(false),
});

/**
 * A wait answers RUNNING this long before the request's own deadline, so a caller sees the
 * state and calls again rather than a 504.
 */
const WAIT_MARGIN_MS = 1_000;

function processId(req: Request): string {
  const parsed = ProcessId.safeParse(req.params['id']);
  if (!parsed.success) throw new RouterError('invalid_argument', `id: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

function attachQuery(req: Request): z.infer<typeof AttachQuery> {
  const parsed = AttachQuery.safeParse(req.query);
  if (!parsed.success) throw new RouterError('invalid_argument', `query: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

type RouteBudget = NonNullable<RouteOptions['budget']>;

const noParams = (): undefined => undefined;
const idParams = (req: Request): { id: string } => ({ id: processId(req) });

export function processRoutes(ctx: RouterContext): Router {
  const router = Router();
  type Handler<P> = (
    req: Request,
    res: Response,
    agent: Connection,
    scope: Scope,
    params: P,
  ) => Promise<void>;
  /**
   * One process route. `params` reads what the caller sent in the URL before the agent is
   * dialled, once: a bad id or query never reaches it. `budget`: the route's own lifetime.
   */
  const route = <P>(name: string, params: (req: Request) => P, handler: Handler<P>, budget?: RouteBudget) =>
    sandboxRoute(
      ctx,
      {
        surface: 'v1',
        route: `${PROCESSES_ROUTE}${name}`,
        style: 'v1',
        target: (req) => v1Target(req.params),
        ...(budget === undefined ? {} : { budget }),
      },
      async (req, res, scope) => {
        const parsed = params(req);
        await handler(req, res, await scope.connect(), scope, parsed);
      },
    );
  const withId = (name: string, handler: Handler<{ id: string }>) => route(`/{id}${name}`, idParams, handler);
  const json = <S extends z.ZodType>(req: Request, schema: S, scope: Scope): Promise<z.infer<S>> =>
    readJson(req, ctx.limits.maxJsonBytes, schema, scope.signal);

  router.post(
    PREFIX,
    route('', noParams, async (req, res, { agent, options }, scope) => {
      const body = await json(req, StartProcessBody, scope);
      const reply = await agent.startProcess(
        create(StartProcessRequestSchema, {
          process: processSpec(body),
          stdin: body.stdin,
          ...(body.tty ? { tty: body.tty } : {}),
        }),
        options,
      );
      res.status(201).json(processJson(reply.process));
    }),
  );

  router.get(
    PREFIX,
    route('', noParams, async (_req, res, { agent, options }) => {
      const reply = await agent.listProcesses({}, options);
      res.json({ processes: processListJson(reply.processes) });
    }),
  );

  router.get(
    `${PREFIX}/:id`,
    withId('', async (_req, res, { agent, options }, _scope, { id }) => {
      const reply = await agent.getProcess({ id }, options);
      res.json(processJson(reply.process, id));
    }),
  );

  router.delete(
    `${PREFIX}/:id`,
    withId('', async (_req, res, { agent, options }, _scope, { id }) => {
      await agent.removeProcess({ id }, options);
      res.status(204).end();
    }),
  );

  router.post(
    `${PREFIX}/:id/stdin`,
    withId('/stdin', async (req, res, { agent, options }, scope, { id }) => {
      const body = await json(req, StdinBody, scope);
      const data = Buffer.from(body.data, body.encoding);
      ctx.metrics.bytes.inc({ direction: 'to_sandbox' }, data.length);
      await agent.writeProcessStdin({ id, data, close: body.close }, options);
      res.status(204).end();
    }),
  );

  router.post(
    `${PREFIX}/:id/signal`,
    withId('/signal', async (req, res, { agent, options }, scope, { id }) => {
      const body = await json(req, SignalBody, scope);
      await agent.signalProcess({ id, signal: SIGNALS[body.signal] }, options);
      res.status(204).end();
    }),
  );

  router.post(
    `${PREFIX}/:id/resize`,
    withId('/resize', async (req, res, { agent, options }, scope, { id }) => {
      const size = await json(req, TerminalSize, scope);
      await agent.resizeProcess({ id, size }, options);
      res.status(204).end();
    }),
  );

  router.post(
    `${PREFIX}/:id/wait`,
    withId('/wait', async (req, res, { agent, options }, scope, { id }) => {
      const body = await json(req, WaitBody, scope);
      const left = Math.max(0, options.deadline - Date.now() - WAIT_MARGIN_MS);
      const timeoutMs = Math.min(body.timeoutMs ?? left, left);
      const reply = await agent.waitProcess({ id, timeoutMs }, options);
      res.json(processJson(reply.process, id));
    }),
  );

  // A followed attach lasts as a WebSocket session may, not as one request: the process may run
  // for hours. At that lifetime the response is cut, and the client reattaches from its offset.
  router.get(
    `${PREFIX}/:id/attach`,
    route(
      '/{id}/attach',
      (req) => {
        const q = attachQuery(req);
        return { ...idParams(req), fromOffset: BigInt(q.fromOffset), follow: q.follow };
      },
      async (_req, res, { agent, options }, _scope, request) => {
        const frames = agent.attachProcess(request, options);
        let headSent = false;
        for await (const event of checkedAttach(frames, request)) {
          if (!headSent) {
            // Headers wait for the agent's first frame, so an unknown id is still a plain 404.
            res.status(200);
            res.setHeader('content-type', ATTACH_CONTENT_TYPE);
            res.setHeader('cache-control', 'no-store');
            res.setHeader('x-content-type-options', 'nosniff');
            headSent = true;
          }
          if (event.kind === 'output')
            ctx.metrics.bytes.inc({ direction: 'from_sandbox' }, event.data.length);
          if (!res.write(encodeEvent(event))) await drainOrClose(res);
          if (res.destroyed) return;
        }
        res.end();
      },
      (req) => sessionBudget(req.headers['x-sandbox-timeout'], ctx.limits.wsMaxLifetimeMs),
    ),
  );
  return router;
}
