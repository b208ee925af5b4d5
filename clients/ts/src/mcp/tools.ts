/**
 * The MCP tools, each a thin use of the client's own Sandbox API on the session's sandbox. Every
 * input is a zod shape the SDK checks before the handler runs (a bad field is an `isError` result
 * naming it); anything the handler throws becomes an `isError` result with the error's message.
 *
 * Results are text for the model, capped: output and file reads say when they were cut, so an
 * agent knows to page (`offset`) or narrow its command rather than trust a partial answer.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Sandbox } from '../sandbox.js';
import type { ClaimSession } from './claim-session.js';

/** Output kept per stream of run_command: enough for a build log's tail, small for a model's context. */
export const OUTPUT_CAP_BYTES = 64 << 10;
/** Largest read_file answer: about 64k tokens; larger files are read in pages by `offset`. */
export const READ_CAP_BYTES = 256 << 10;
/** Largest write_file content and run_command stdin, in characters (bigger files: several writes or a command). */
export const WRITE_CAP_CHARS = 1 << 20;
/** Default and longest run_command timeout: the agent kills the command then. */
const DEFAULT_TIMEOUT_SECONDS = 120;
const MAX_TIMEOUT_SECONDS = 3_600;
/** Entries list_directory prints at most. */
export const LIST_CAP_ENTRIES = 1_000;

const SandboxPath = z.string().min(1).max(4_096);

const RunInput = {
  command: z
    .union([z.string().min(1), z.array(z.string()).min(1).max(4_096)])
    .describe('An argv list, run as is, or a string run by /bin/sh -c'),
  stdin: z.string().max(WRITE_CAP_CHARS).optional().describe('Text on the command stdin, then EOF'),
  cwd: SandboxPath.optional().describe('Working directory (relative paths are under the workspace)'),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), z.string())
    .optional()
    .describe('Extra environment variables'),
  timeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(MAX_TIMEOUT_SECONDS)
    .optional()
    .describe(`Kill the command after this long (default ${DEFAULT_TIMEOUT_SECONDS})`),
};

const ReadInput = {
  path: SandboxPath.describe('The file (relative paths are under the workspace)'),
  offset: z.number().int().min(0).optional().describe('First byte to read (default 0)'),
};

const WriteInput = {
  path: SandboxPath.describe('The file (relative paths are under the workspace); parents are created'),
  content: z.string().max(WRITE_CAP_CHARS).describe('The whole new content, as UTF-8 text'),
  mode: z
    .string()
    .regex(/^[0-7]{3,4}$/, 'must be octal permission bits such as 644 or 0755')
    .optional()
    .describe('Permission bits in octal (default 644)'),
};

const ListInput = {
  path: SandboxPath.optional().describe('The directory (default: the workspace)'),
};

const PreviewInput = {
  port: z.number().int().min(1).max(65_535).describe('A port a server in the sandbox listens on'),
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("The link's lifetime (default: the router's, 900 s)"),
};

type Extra = { signal: AbortSignal };

function text(body: string, structured?: Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: 'text', text: body }],
    ...(structured ? { structuredContent: structured } : {}),
  };
}

/** A note for the first call after an idle deletion: the sandbox is a fresh one. */
function freshNote(replaced: string | undefined): string {
  return replaced ? `(note: claim ${replaced} was deleted while idle; this ran in a fresh sandbox)\n` : '';
}

function outcome(exit: { exitCode: number; signal: string; timedOut: boolean; oomKilled: boolean }): string {
  if (exit.timedOut) return 'timed out (killed)';
  if (exit.oomKilled) return 'killed: out of memory';
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit code ${exit.exitCode}`;
}

function stream(name: string, body: string, truncated: boolean): string {
  const cut = truncated ? ` (truncated to the first ${OUTPUT_CAP_BYTES} bytes)` : '';
  return `--- ${name}${cut} ---\n${body}${body.endsWith('\n') || !body ? '' : '\n'}`;
}

/** UTF-8 text of a page that may end inside a character (it is held back, not mangled). */
function decodePage(bytes: Uint8Array, cut: boolean): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: cut });
  } catch {
    throw new Error('not UTF-8 text: read it with run_command (e.g. base64 or xxd)');
  }
}

/** Registers the tools on `server`, each running on `session`'s sandbox. */
export function registerTools(server: McpServer, session: ClaimSession): void {
  const on = (
    work: (sandbox: Sandbox) => Promise<[string, Record<string, unknown>?]>,
  ): Promise<CallToolResult> =>
    session.with(async ({ sandbox, replaced }) => {
      const [body, structured] = await work(sandbox);
      return text(freshNote(replaced) + body, structured);
    });

  server.registerTool(
    'run_command',
    {
      title: 'Run a command',
      description: `Runs a command in the sandbox and returns its exit status, stdout and stderr (each cut at ${OUTPUT_CAP_BYTES} bytes; the result says so).`,
      inputSchema: RunInput,
      annotations: { destructiveHint: true, openWorldHint: true },
    },
    ({ command, stdin, cwd, env, timeoutSeconds }, extra: Extra) =>
      on(async (sb) => {
        const result = await sb.commands.run(command, {
          ...(stdin === undefined ? {} : { stdin }),
          ...(cwd === undefined ? {} : { cwd }),
          ...(env === undefined ? {} : { env }),
          timeoutMs: (timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
          maxOutputBytes: OUTPUT_CAP_BYTES,
          signal: extra.signal,
        });
        const body = [
          outcome(result),
          stream('stdout', result.stdout, result.stdoutTruncated),
          stream('stderr', result.stderr, result.stderrTruncated),
        ].join('\n');
        return [
          body,
          {
            exitCode: result.exitCode,
            signal: result.signal,
            timedOut: result.timedOut,
            stdout: result.stdout,
            stderr: result.stderr,
            truncated: result.truncated,
          },
        ];
      }),
  );

  server.registerTool(
    'read_file',
    {
      title: 'Read a file',
      description: `Reads a UTF-8 text file from the sandbox, at most ${READ_CAP_BYTES} bytes from \`offset\`; the result says when more follows.`,
      inputSchema: ReadInput,
      annotations: { readOnlyHint: true },
    },
    ({ path, offset = 0 }, extra: Extra) =>
      on(async (sb) => {
        const info = await sb.files.stat(path, { signal: extra.signal });
        if (info.type === 'directory') throw new Error(`${path}: is a directory (use list_directory)`);
        const bytes = await sb.files.readBytes(path, {
          offset,
          limit: READ_CAP_BYTES,
          maxBytes: READ_CAP_BYTES,
          signal: extra.signal,
        });
        const end = offset + bytes.length;
        const cut = end < info.size;
        const body = decodePage(bytes, cut);
        const more = cut
          ? `\n--- truncated: bytes ${offset}-${end} of ${info.size}; call again with offset ${offset + Buffer.byteLength(body)} ---`
          : '';
        return [body + more];
      }),
  );

  server.registerTool(
    'write_file',
    {
      title: 'Write a file',
      description:
        'Writes UTF-8 text to a file in the sandbox (replacing it whole, atomically; parent directories are created).',
      inputSchema: WriteInput,
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    ({ path, content, mode }, extra: Extra) =>
      on(async (sb) => {
        const info = await sb.files.write(path, content, {
          ...(mode === undefined ? {} : { mode: parseInt(mode, 8) }),
          signal: extra.signal,
        });
        return [`wrote ${info.size} bytes to ${info.path}`, { path: info.path, size: info.size }];
      }),
  );

  server.registerTool(
    'list_directory',
    {
      title: 'List a directory',
      description: `Lists a directory in the sandbox (type, size, name; at most ${LIST_CAP_ENTRIES} entries).`,
      inputSchema: ListInput,
      annotations: { readOnlyHint: true },
    },
    ({ path = '.' }, extra: Extra) =>
      on(async (sb) => {
        const entries = await sb.files.list(path, { signal: extra.signal });
        const shown = entries.slice(0, LIST_CAP_ENTRIES);
        const lines = shown.map((e) => `${e.type.padEnd(9)} ${String(e.size).padStart(10)}  ${e.name}`);
        if (entries.length > shown.length)
          lines.push(`--- truncated: ${shown.length} of ${entries.length} entries ---`);
        if (entries.length === 0) lines.push('(empty)');
        return [lines.join('\n')];
      }),
  );

  server.registerTool(
    'preview_port',
    {
      title: 'Open a port preview',
      description:
        'Makes a signed link that opens a port of the sandbox in a browser, without credentials, until it expires.',
      inputSchema: PreviewInput,
      annotations: { readOnlyHint: false, openWorldHint: true },
    },
    ({ port, ttlSeconds }, extra: Extra) =>
      on(async (sb) => {
        const link = await sb.ports.preview(port, {
          ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
          signal: extra.signal,
        });
        const expiresAt = link.expiresAt.toISOString();
        return [`${link.url}\n(expires ${expiresAt})`, { url: link.url, port: link.port, expiresAt }];
      }),
  );
}
