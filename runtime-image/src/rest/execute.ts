/**
 * Legacy `POST /execute {"command"}` → `{"stdout","stderr","exit_code"}`: the command is split
 * like `shlex.split` and run without a shell in the workspace root, through the same runner as
 * gRPC Run. As upstream, any failure to run is a 200 with `exit_code` 1 and the reason in
 * `stderr` ("Failed to execute command: …"), a process killed by signal N reports `-N`
 * (Python's returncode), and a timeout reports Python's TimeoutExpired text.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { AgentDeps } from '../deps.js';
import { AgentError } from '../errors.js';
import { runBuffered } from '../process/run-buffered.js';
import { signalNumber } from '../process/signals.js';
import { pyFloat, pyListRepr, pyStrRepr, pyText } from '@sandbank/proto';
import { sendJson, sendValidationError } from './respond.js';
import type { ValidationIssue } from './respond.js';
import { ShlexError, shlexSplit } from '@sandbank/proto';

/** Largest request body: a command line cannot be longer than the kernel's ARG_MAX (2 MiB). */
export const MAX_EXECUTE_BODY_BYTES = 4 * 1024 * 1024;

const ExecuteBody = z.object({ command: z.string() });

export async function handleExecute(
  deps: AgentDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const body = await readBody(req, MAX_EXECUTE_BODY_BYTES);
  if (body === undefined) {
    sendJson(res, 413, { detail: `Request body is larger than ${MAX_EXECUTE_BODY_BYTES} bytes` });
    return;
  }
  const parsed = parseExecuteBody(body, req.headers['content-type']);
  if ('issues' in parsed) {
    sendValidationError(res, parsed.issues);
    return;
  }
  const command = parsed.command;
  let args: string[] = [];
  try {
    args = shlexSplit(command);
    if (args.length === 0) throw new AgentError('invalid_argument', 'list index out of range');
    const abort = new AbortController();
    res.once('close', () => res.writableFinished || abort.abort());
    const result = await runBuffered(
      deps.runner,
      { argv: args, cwd: deps.workspace.root, maxOutputBytes: deps.runMaxOutputBytes },
      new Uint8Array(0),
      abort.signal,
    );
    const { exit } = result;
    if (exit.timedOut) {
      const seconds = pyFloat(deps.runner.limits.defaultTimeoutMs / 1000);
      throw new AgentError(
        'deadline_exceeded',
        `Command '${pyListRepr(args)}' timed out after ${seconds} seconds`,
      );
    }
    const exitCode = exit.signal ? -(signalNumber(exit.signal) ?? 0) : exit.exitCode;
    sendJson(res, 200, { stdout: pyText(result.stdout), stderr: pyText(result.stderr), exit_code: exitCode });
  } catch (error) {
    sendJson(res, 200, {
      stdout: '',
      stderr: `Failed to execute command: ${pythonMessage(error, args)}`,
      exit_code: 1,
    });
  }
}

/** The text Python's exception would have had, where the failure has a Python twin. */
function pythonMessage(error: unknown, args: readonly string[]): string {
  if (error instanceof ShlexError) return error.message;
  const agentError = AgentError.from(error);
  const program = pyStrRepr(args[0] ?? '');
  if (agentError.code === 'not_found') return `[Errno 2] No such file or directory: ${program}`;
  if (agentError.code === 'permission_denied') return `[Errno 13] Permission denied: ${program}`;
  return agentError.message;
}

/**
 * FastAPI's body handling for a pydantic model: JSON when the content type is JSON or absent,
 * the same 422 issues for a missing body, bad JSON, a non-object, or a non-string `command`.
 */
function parseExecuteBody(
  body: Buffer,
  contentType: string | undefined,
): { command: string } | { issues: ValidationIssue[] } {
  if (body.length === 0)
    return { issues: [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }] };
  let value: unknown = body.toString('utf8');
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (
    mediaType === undefined ||
    mediaType === 'application/json' ||
    /^application\/.+\+json$/.test(mediaType)
  ) {
    const text = body.toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (error) {
      const { position, reason } = pythonJsonError(error instanceof Error ? error.message : '', text);
      return {
        issues: [
          {
            type: 'json_invalid',
            loc: ['body', position],
            msg: 'JSON decode error',
            input: {},
            ctx: { error: reason },
          },
        ],
      };
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      issues: [
        {
          type: 'model_attributes_type',
          loc: ['body'],
          msg: 'Input should be a valid dictionary or object to extract fields from',
          input: value,
        },
      ],
    };
  }
  const parsed = ExecuteBody.safeParse(value);
  if (parsed.success) return parsed.data;
  const command = (value as Record<string, unknown>)['command'];
  return {
    issues: [
      command === undefined
        ? { type: 'missing', loc: ['body', 'command'], msg: 'Field required', input: value }
        : {
            type: 'string_type',
            loc: ['body', 'command'],
            msg: 'Input should be a valid string',
            input: command,
          },
    ],
  };
}

/**
 * Python's json.JSONDecodeError (position and message) for V8's JSON.parse error. The common
 * cases match; rarer ones get the nearest Python message.
 */
function pythonJsonError(message: string, text: string): { position: number; reason: string } {
  const at = /at position (\d+)/.exec(message)?.[1];
  const position = at === undefined ? (/end of JSON input/.test(message) ? text.length : 0) : Number(at);
  if (/non-whitespace character after JSON/.test(message)) return { position, reason: 'Extra data' };
  if (/Expected property name/.test(message))
    return { position, reason: 'Expecting property name enclosed in double quotes' };
  if (/Expected ',' or '}'/.test(message)) return { position, reason: "Expecting ',' delimiter" };
  if (/Expected ',' or ']'/.test(message)) return { position, reason: "Expecting ',' delimiter" };
  if (/Expected ':'/.test(message)) return { position, reason: "Expecting ':' delimiter" };
  return { position, reason: 'Expecting value' };
}

/** The whole body, or undefined if it is over `limit` bytes (the rest is not read). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
