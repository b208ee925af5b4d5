/**
 * The legacy python-runtime REST calls, answered through the agent's gRPC API with the bytes the
 * python-runtime itself would send. Each function gets a connected agent and the request scope.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { constants as osConstants } from 'node:os';
import busboy from 'busboy';
import type { Request, Response } from 'express';
import { FileType, isServiceError } from '@sandbank/proto';
import type { ListDirResponse, StatResponse } from '@sandbank/proto';
import { z } from 'zod';
import type { Connection } from '../../admission/admission.js';
import type { OutputBudget } from '../../admission/output-budget.js';
import { runBuffered } from '../../agent/buffered-run.js';
import type { BufferedOutput } from '../../agent/buffered-run.js';
import { agentFileInfo, agentFileInfos } from '../../agent/file-info.js';
import type { AgentFileInfo } from '../../agent/file-info.js';
import { agentCallError, fromAgentError } from '../../agent/status.js';
import { writeFileRequests } from '../../agent/write-file.js';
import { RouterError } from '../../errors.js';
import { DEFAULT_BUFFERED_OUTPUT_BYTES } from '../../exec-spec.js';
import { readJson } from '../validate.js';
import {
  PyFloat,
  ShlexError,
  pyFloat,
  pyJson,
  pyListRepr,
  pyQuote,
  pyStrRepr,
  shlexSplit,
  statSeconds,
} from './python.js';
import { sendPyJson, sendPyJsonStream, sendPyMessage } from './respond.js';
import { sendFileBody } from '../file-body.js';

export interface LegacyCall {
  readonly agent: Connection['agent'];
  readonly options: Connection['options'];
  readonly maxJsonBytes: number;
  readonly maxBodyBytes: number;
  /** What POST /execute's buffered output draws on. */
  readonly outputBudget: OutputBudget;
}

/**
 * Output kept per stream for POST /execute: the python-runtime keeps all, but a router holds
 * every tenant's output, so the default cap of a buffered exec applies, as it does on the agent's
 * own REST /execute (and the answers stay byte-identical to it).
 */
const EXECUTE_MAX_OUTPUT_BYTES = DEFAULT_BUFFERED_OUTPUT_BYTES;

/** The longest `timeout_seconds` the agent's millisecond limit (a uint32) can carry. */
const MAX_TIMEOUT_SECONDS = 4_294_967;

/**
 * `timeout_seconds` is what upstream's SDK (1.0.8) sends for `run(command_timeout=…)`; it reads
 * `timed_out` back. Absent or null: the runtime's own limit, and the python-runtime's answer.
 */
const ExecuteBody = z.looseObject({
  command: z.string(),
  timeout_seconds: z.number().positive().max(MAX_TIMEOUT_SECONDS).nullable().optional(),
});

/** Python's `f"{t:g}"` for the values a timeout takes (6 significant digits, no trailing zeros). */
function pyG(value: number): string {
  return String(Number(value.toPrecision(6)));
}

/** The agent's own words for a failure (the gRPC status details), without the router's prefix. */
function agentDetails(error: RouterError): string {
  return isServiceError(error.cause) ? error.cause.details : error.message;
}

/** What Python's exception would have said when running `program` failed this way. */
function pythonMessage(error: RouterError, program: string): string {
  if (error.code === 'not_found') return `[Errno 2] No such file or directory: ${pyStrRepr(program)}`;
  if (error.code === 'permission_denied') return `[Errno 13] Permission denied: ${pyStrRepr(program)}`;
  return agentDetails(error);
}

/** The python-runtime's wall-clock limit, which its timeout message names. */
const LEGACY_TIMEOUT_SECONDS = 300;

/** Python's `returncode`: negative signal number for a process killed by a signal. */
function returnCode(exit: BufferedOutput['exit']): number {
  if (!exit) return 1;
  if (exit.signal !== '') {
    const n = (osConstants.signals as Record<string, number | undefined>)[exit.signal];
    if (n !== undefined) return -n;
  }
  return exit.exitCode;
}

/** Legacy paths: leading slashes dropped, as the python-runtime joins them under its base. */
export function legacyPath(path: string): string {
  return path.replace(/^\/+/, '');
}

export async function execute(req: Request, res: Response, c: LegacyCall): Promise<void> {
  const body = await readJson(req, c.maxJsonBytes, ExecuteBody, c.options.signal);
  const failed = (message: string): void =>
    sendPyJson(res, 200, { stdout: '', stderr: `Failed to execute command: ${message}`, exit_code: 1 });
  let argv: string[];
  try {
    argv = shlexSplit(body.command);
  } catch (error) {
    if (!(error instanceof ShlexError)) throw error;
    failed(error.message);
    return;
  }
  const program = argv[0];
  if (program === undefined) {
    failed('list index out of range');
    return;
  }
  const limitSeconds = body.timeout_seconds ?? undefined;
  let result: BufferedOutput;
  try {
    result = await runBuffered(
      c.outputBudget,
      c,
      {
        process: {
          command: { case: 'argv', value: { args: argv } },
          ...(limitSeconds === undefined ? {} : { timeoutMs: Math.max(1, Math.round(limitSeconds * 1000)) }),
        },
      },
      EXECUTE_MAX_OUTPUT_BYTES,
    );
  } catch (thrown) {
    // The router's own failures (deadline, cancel, dial) stay errors; the agent's are a result.
    const error = agentFailure(thrown);
    if (RETHROWN.has(error.code)) throw error;
    failed(pythonMessage(error, program));
    return;
  }
  try {
    if (limitSeconds !== undefined) {
      // The caller's own limit: the answer the SDK models (exit 124 as timeout(1), `timed_out`).
      const timedOut = result.exit?.timedOut === true;
      await sendPyJsonStream(res, 200, [
        '{"stdout":',
        { bytes: result.stdout, encoding: 'utf8', universalNewlines: true },
        ',"stderr":',
        timedOut
          ? pyJson(`Command timed out after ${pyG(limitSeconds)} seconds`)
          : { bytes: result.stderr, encoding: 'utf8', universalNewlines: true },
        `,"exit_code":${timedOut ? 124 : returnCode(result.exit)},"timed_out":${timedOut ? 'true' : 'false'}}`,
      ]);
      return;
    }
    if (result.exit?.timedOut) {
      failed(`Command '${pyListRepr(argv)}' timed out after ${pyFloat(LEGACY_TIMEOUT_SECONDS)} seconds`);
      return;
    }
    await sendPyJsonStream(res, 200, [
      '{"stdout":',
      { bytes: result.stdout, encoding: 'utf8', universalNewlines: true },
      ',"stderr":',
      { bytes: result.stderr, encoding: 'utf8', universalNewlines: true },
      `,"exit_code":${returnCode(result.exit)}}`,
    ]);
  } finally {
    result.release();
  }
}

const RETHROWN: ReadonlySet<string> = new Set(['deadline_exceeded', 'canceled', 'upstream_unavailable']);

/**
 * The agent's own failure of a call, as a RouterError; the router's own (an abort's reason: a
 * deadline, a client gone, shutdown) is rethrown as it is, for the pipeline to answer.
 */
function agentFailure(thrown: unknown): RouterError {
  const call = agentCallError(thrown);
  if (call === undefined) throw thrown;
  return fromAgentError(call);
}

/** Confinement failures are the runtime's `403 {"message":"Access denied"}`. */
function isAccessDenied(error: unknown): boolean {
  return (
    error instanceof RouterError && (error.code === 'permission_denied' || error.code === 'invalid_argument')
  );
}

const missingFile = {
  detail: [{ type: 'missing', loc: ['body', 'file'], msg: 'Field required', input: null }],
};

export async function upload(req: Request, res: Response, c: LegacyCall): Promise<void> {
  let parser: busboy.Busboy;
  try {
    // preservePath: the multipart filename is the destination path, directories included.
    parser = busboy({ headers: req.headers, preservePath: true, limits: { fileSize: c.maxBodyBytes } });
  } catch {
    req.resume();
    sendPyJson(res, 422, missingFile);
    return;
  }
  type Outcome =
    | { kind: 'written'; name: string }
    | { kind: 'failed'; error: unknown; name: string }
    | { kind: 'missing' };
  const outcome = new Promise<Outcome>((resolve, reject) => {
    let pending: Promise<Outcome> | undefined;
    parser.on('file', (field, stream, info) => {
      if (field !== 'file' || pending) {
        stream.resume();
        return;
      }
      const name = info.filename ?? '';
      stream.on('limit', () => {
        stream.destroy(new RouterError('payload_too_large', `upload over ${c.maxBodyBytes} bytes`));
      });
      const requests = writeFileRequests({ path: legacyPath(name), createParents: true }, stream);
      pending = c.agent.writeFile(requests, c.options).then(
        (): Outcome => ({ kind: 'written', name }),
        (error: unknown): Outcome => {
          stream.resume();
          return { kind: 'failed', error, name };
        },
      );
    });
    parser.on('close', () => {
      if (pending) pending.then(resolve, reject);
      else resolve({ kind: 'missing' });
    });
    parser.on('error', () =>
      resolve(
        pending ? { kind: 'failed', error: new Error('bad multipart body'), name: '' } : { kind: 'missing' },
      ),
    );
  });
  req.pipe(parser);
  const result = await outcome;
  req.unpipe(parser);
  if (result.kind === 'missing') {
    sendPyJson(res, 422, missingFile);
    return;
  }
  if (result.kind === 'written') {
    sendPyMessage(res, 200, `File '${result.name}' uploaded successfully.`);
    return;
  }
  // The router's own failures (too large, deadline, cancel) stay errors.
  if (result.error instanceof RouterError) throw result.error;
  const call = agentCallError(result.error);
  const error = call ? fromAgentError(call) : undefined;
  if (isAccessDenied(error)) {
    sendPyMessage(res, 403, 'Access denied');
    return;
  }
  if (error && RETHROWN.has(error.code)) throw error;
  const message = error ? agentDetails(error) : String(result.error);
  sendPyMessage(res, 500, `File upload failed: ${message}`);
}

export async function download(res: Response, c: LegacyCall, rawPath: string): Promise<void> {
  const path = legacyPath(rawPath);
  try {
    await sendFileBody(res, c.agent.readFile({ path, chunkSize: 256 * 1024 }, c.options), (info) => {
      const mtime = info.modTime ? statSeconds(info.modTime.seconds, info.modTime.nanos) : 0;
      const size = String(info.size);
      const quoted = pyQuote(rawPath);
      return {
        length: info.size,
        headers: {
          'content-type': 'application/octet-stream',
          'accept-ranges': 'bytes',
          'content-disposition':
            quoted === rawPath
              ? `attachment; filename="${rawPath}"`
              : `attachment; filename*=utf-8''${quoted}`,
          'last-modified': new Date(Math.floor(mtime) * 1000).toUTCString(),
          etag: `"${createHash('md5')
            .update(`${pyFloat(mtime)}-${size}`)
            .digest('hex')}"`,
        },
      };
    });
  } catch (thrown) {
    if (res.headersSent) throw thrown;
    const error = agentFailure(thrown);
    if (isAccessDenied(error)) {
      sendPyMessage(res, 403, 'Access denied');
      return;
    }
    if (error.code === 'not_found' || error.code === 'failed_precondition') {
      sendPyMessage(res, 404, 'File not found');
      return;
    }
    throw error;
  }
}

/**
 * Stat calls a `/list` keeps in flight for its symlinks. The sandbox decides how many symlinks a
 * directory holds; one call each, all at once, would let it fill the router with pending calls.
 */
const LIST_STATS_IN_FLIGHT = 16;

/** `f` over `items`, at most `limit` at a time, results in order. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  f: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** One `/list` entry; symlinks are described by what they point to, as os.scandir's stat() does. */
async function legacyEntry(c: LegacyCall, info: AgentFileInfo): Promise<Record<string, unknown>> {
  let target = info;
  if (info.type === FileType.SYMLINK) {
    let st: StatResponse | undefined;
    try {
      st = await c.agent.stat({ path: info.path }, c.options);
    } catch {
      // A dangling link: described as itself.
    }
    // Outside the catch: an invalid answer is the agent's failure, not a dangling link.
    if (st?.info) target = agentFileInfo(st);
  }
  const mod = target.modTime;
  return {
    name: info.name,
    size: Number(target.size),
    type: target.type === FileType.DIRECTORY ? 'directory' : 'file',
    mod_time: new PyFloat(mod ? statSeconds(mod.seconds, mod.nanos) : 0),
  };
}

export async function list(res: Response, c: LegacyCall, rawPath: string): Promise<void> {
  const path = legacyPath(rawPath);
  let result: ListDirResponse;
  try {
    result = await c.agent.listDir({ path }, c.options);
  } catch (thrown) {
    const error = agentFailure(thrown);
    if (isAccessDenied(error)) {
      sendPyMessage(res, 403, 'Access denied');
      return;
    }
    if (error.code === 'not_found' || error.code === 'failed_precondition') {
      sendPyMessage(res, 404, 'Path is not a directory');
      return;
    }
    if (RETHROWN.has(error.code)) throw error;
    sendPyMessage(res, 500, `List files failed: ${agentDetails(error)}`);
    return;
  }
  // Each Stat in flight listens on the request's signal: more than Node's default 10 is expected.
  setMaxListeners(LIST_STATS_IN_FLIGHT + 10, c.options.signal);
  const entries = await mapBounded(agentFileInfos(result), LIST_STATS_IN_FLIGHT, (e) => legacyEntry(c, e));
  sendPyJson(res, 200, entries);
}

export async function exists(res: Response, c: LegacyCall, rawPath: string): Promise<void> {
  let found = true;
  try {
    await c.agent.stat({ path: legacyPath(rawPath) }, c.options);
  } catch (thrown) {
    const error = agentFailure(thrown);
    if (isAccessDenied(error)) {
      sendPyMessage(res, 403, 'Access denied');
      return;
    }
    if (RETHROWN.has(error.code)) throw error;
    found = false; // os.path.exists: any other error is False
  }
  sendPyJson(res, 200, { path: rawPath, exists: found });
}
