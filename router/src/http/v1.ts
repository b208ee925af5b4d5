/**
 * The Sandbank API under `/v1/namespaces/{namespace}/sandboxes/{name}/`: exec (buffered JSON;
 * the WebSocket form is in ws/), files (streamed GET and PUT, DELETE), mkdir, list and stat. Every call
 * goes to the pod's agent over gRPC.
 */
import { Router } from 'express';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { formatZodError } from '@sandbank/api';
import type { Connection } from '../admission/admission.js';
import { agentFileInfo, agentFileInfos } from '../agent/file-info.js';
import { writeFileRequests } from '../agent/write-file.js';
import type { RouterContext } from '../context.js';
import { RouterError } from '../errors.js';
import { runBuffered } from '../agent/buffered-run.js';
import { fromAgentError } from '../agent/status.js';
import {
  DEFAULT_BUFFERED_OUTPUT_BYTES,
  ExecRequestBody,
  exitJson,
  fileInfoJson,
  processSpec,
} from '../exec-spec.js';
import { sendFileBody } from './file-body.js';
import { sendJsonPieces } from './json-stream.js';
import { sandboxRoute } from './pipeline.js';
import type { Scope } from './pipeline.js';
import { pathAfter, readJson, v1Target } from './validate.js';

export const V1_PREFIX = '/v1/namespaces/:namespace/sandboxes/:name';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const uint = z
  .string()
  .regex(/^[0-9]{1,15}$/, 'must be a non-negative integer')
  .transform(Number);

const ReadQuery = z.object({ offset: uint.optional(), limit: uint.optional() });
const WriteQuery = z.object({
  mode: z
    .string()
    .regex(/^0?[0-7]{1,4}$/, 'must be octal permission bits such as 0644')
    .transform((m) => parseInt(m, 8))
    .pipe(z.number().max(0o777))
    .optional(),
  createParents: bool.optional(),
  exclusive: bool.optional(),
});
const RemoveQuery = z.object({ recursive: bool.optional() });
const PathQuery = z.object({ path: z.string().max(4096).default('') });
const MakeDirQuery = z.object({
  path: z.string().min(1, 'a directory path is required').max(4096),
  parents: bool.optional(),
  mode: WriteQuery.shape.mode,
});

function query<S extends z.ZodType>(req: Request, schema: S): z.infer<S> {
  const parsed = schema.safeParse(req.query);
  if (!parsed.success) throw new RouterError('invalid_argument', `query: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

function filePath(req: Request, route: string): string {
  const marker = `/${route}/`;
  const path = pathAfter(req, marker, 'path');
  if (path === '') throw new RouterError('invalid_argument', 'path: a file path is required after /files/');
  return path;
}

export function v1Routes(ctx: RouterContext): Router {
  const router = Router();
  type Handler = (req: Request, res: Response, agent: Connection, scope: Scope) => Promise<void>;
  // Every route here is answered by the agent: dial before reading the body.
  const route = (name: string, handler: Handler) =>
    sandboxRoute(
      ctx,
      { surface: 'v1', route: `${V1_PREFIX}/${name}`, style: 'v1', target: (req) => v1Target(req.params) },
      async (req, res, scope) => handler(req, res, await scope.connect(), scope),
    );

  router.post(
    `${V1_PREFIX}/exec`,
    route('exec', async (req, res, { agent, options, endpoint }, scope) => {
      const body = await readJson(req, ctx.limits.maxJsonBytes, ExecRequestBody, scope.signal);
      const stdin = body.stdin === undefined ? new Uint8Array() : Buffer.from(body.stdin, body.stdinEncoding);
      const result = await runBuffered(
        ctx.outputBudget,
        { agent, options },
        { process: processSpec(body), stdin },
        body.maxOutputBytes ?? DEFAULT_BUFFERED_OUTPUT_BYTES,
      ).catch(async (error: unknown) => {
        throw await ctx.gateway.explainBroken(endpoint, fromAgentError(error), scope.signal);
      });
      try {
        const encoding = body.outputEncoding;
        const head = JSON.stringify(exitJson(result.exit)).slice(0, -1);
        await sendJsonPieces(res, 200, 'application/json; charset=utf-8', [
          `${head},"stdout":`,
          { bytes: result.stdout, encoding },
          ',"stderr":',
          { bytes: result.stderr, encoding },
          `,"encoding":${JSON.stringify(encoding)}}`,
        ]);
      } finally {
        result.release();
      }
    }),
  );

  router.get(
    `${V1_PREFIX}/files/*path`,
    route('files/{path}', async (req, res, { agent, options }) => {
      const path = filePath(req, 'files');
      const q = query(req, ReadQuery);
      const offset = BigInt(q.offset ?? 0);
      const replies = agent.readFile(
        {
          path,
          offset,
          ...(q.limit === undefined ? {} : { limit: BigInt(q.limit) }),
          chunkSize: 256 * 1024,
        },
        options,
      );
      await sendFileBody(res, replies, (checked) => {
        const info = fileInfoJson(checked);
        const remaining = checked.size > offset ? checked.size - offset : 0n;
        const length = q.limit === undefined || remaining < BigInt(q.limit) ? remaining : BigInt(q.limit);
        return {
          length,
          headers: {
            'content-type': 'application/octet-stream',
            'x-sandbank-file-mode': info.mode.toString(8).padStart(4, '0'),
            ...(info.modTime ? { 'last-modified': new Date(info.modTime).toUTCString() } : {}),
          },
        };
      });
    }),
  );

  router.put(
    `${V1_PREFIX}/files/*path`,
    route('files/{path}', async (req, res, { agent, options }) => {
      const path = filePath(req, 'files');
      const q = query(req, WriteQuery);
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > ctx.limits.maxBodyBytes) {
        throw new RouterError('payload_too_large', `request body over ${ctx.limits.maxBodyBytes} bytes`);
      }
      let seen = 0;
      const limited = async function* (): AsyncGenerator<Buffer> {
        for await (const chunk of req as AsyncIterable<Buffer>) {
          seen += chunk.length;
          if (seen > ctx.limits.maxBodyBytes) {
            throw new RouterError('payload_too_large', `request body over ${ctx.limits.maxBodyBytes} bytes`);
          }
          yield chunk;
        }
      };
      const header = {
        path,
        ...(q.mode === undefined ? {} : { mode: q.mode }),
        ...(q.createParents === undefined ? {} : { createParents: q.createParents }),
        exclusive: q.exclusive ?? false,
      };
      const result = await agent.writeFile(writeFileRequests(header, limited()), options);
      res.status(201).json(fileInfoJson(agentFileInfo(result)));
    }),
  );

  router.delete(
    `${V1_PREFIX}/files/*path`,
    route('files/{path}', async (req, res, { agent, options }) => {
      const path = filePath(req, 'files');
      const q = query(req, RemoveQuery);
      await agent.remove({ path, recursive: q.recursive ?? false }, options);
      res.status(204).end();
    }),
  );

  router.post(
    `${V1_PREFIX}/mkdir`,
    route('mkdir', async (req, res, { agent, options }) => {
      const q = query(req, MakeDirQuery);
      const result = await agent.makeDir(
        { path: q.path, parents: q.parents ?? false, ...(q.mode === undefined ? {} : { mode: q.mode }) },
        options,
      );
      res.status(201).json(fileInfoJson(agentFileInfo(result)));
    }),
  );

  router.get(
    `${V1_PREFIX}/list`,
    route('list', async (req, res, { agent, options }) => {
      const { path } = query(req, PathQuery);
      const result = await agent.listDir({ path }, options);
      res.json({ entries: agentFileInfos(result).map(fileInfoJson) });
    }),
  );

  router.get(
    `${V1_PREFIX}/stat`,
    route('stat', async (req, res, { agent, options }) => {
      const { path } = query(req, PathQuery);
      const result = await agent.stat({ path }, options);
      res.json(fileInfoJson(agentFileInfo(result)));
    }),
  );
  return router;
}
