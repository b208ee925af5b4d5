/**
 * `sandbox.files`: the sandbox's files through the router. Reads and writes stream (a big file is
 * never held whole; `readBytes`/`readText` hold one up to a cap), writes are atomic on the agent
 * (temp file + rename), and paths are relative to the workspace.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { RouterConnection, SandboxTarget } from './connection.js';
import { NotFound } from './generated/router-errors.js';
import { fileSegment, sandboxPath } from './http/paths.js';
import { callEmpty, callJson, readCapped, send } from './http/request.js';
import type { CallOptions, RequestBody, RouterResponse } from './http/request.js';

export const FileInfoSchema = z.object({
  name: z.string(),
  path: z.string(),
  size: z.int().min(0),
  type: z.enum(['file', 'directory', 'symlink', 'other']),
  mode: z.int().min(0),
  modTime: z.iso.datetime({ offset: true }).nullable().optional(),
});

/** One file or directory in the sandbox. */
export type FileInfo = z.infer<typeof FileInfoSchema>;

const ListSchema = z.object({ entries: z.array(FileInfoSchema) });

/** Default cap of `readBytes`/`readText`: larger files are for `read` (a stream). */
const DEFAULT_READ_CAP_BYTES = 64 << 20;

export interface ReadOptions extends CallOptions {
  /** First byte to read. */
  readonly offset?: number;
  /** Bytes to read at most. */
  readonly limit?: number;
}

export interface ReadBytesOptions extends ReadOptions {
  /** Largest file held (default 64 MiB): past it, SizeLimitExceeded. */
  readonly maxBytes?: number;
}

/** A file being read: its bytes as a web stream (read it, or `cancel()` it), and what the router said of it. */
export interface FileRead {
  readonly stream: ReadableStream<Uint8Array>;
  /** Bytes the stream carries (`Content-Length`), when the router sent it. */
  readonly size: number | undefined;
  /** Permission bits (`X-Sandbank-File-Mode`), when sent. */
  readonly mode: number | undefined;
  readonly modTime: Date | undefined;
}

export interface WriteOptions extends CallOptions {
  /** Permission bits of the new file (default 0644). */
  readonly mode?: number;
  /** Create missing parent directories (default true). */
  readonly createParents?: boolean;
}

/** What `write` takes: bytes, text (UTF-8), a Node Readable, a web ReadableStream or any async iterable of bytes. */
export type FileContent = RequestBody;

function nonNegative(field: string, value: number | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new TypeError(`${field}: must be a non-negative integer, got ${value}`);
  return String(value);
}

function octal(field: string, mode: number | undefined): string | undefined {
  if (mode === undefined) return undefined;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
    throw new TypeError(`${field}: must be permission bits from 0 to 0o7777, got ${mode}`);
  return mode.toString(8);
}

function defined(entries: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).filter((e): e is [string, string] => e[1] !== undefined));
}

/** `sandbox.files`: the sandbox's workspace, streamed both ways. */
export class Files {
  constructor(
    private readonly conn: RouterConnection,
    private readonly target: SandboxTarget,
  ) {}

  private filePath(path: string): string {
    return sandboxPath(this.target, `/files/${fileSegment(path)}`);
  }

  /** GET of the file (its `offset`/`limit` part): the answer, body unread. */
  private get(path: string, options: ReadOptions): Promise<RouterResponse> {
    const query = defined({
      offset: nonNegative('offset', options.offset),
      limit: nonNegative('limit', options.limit),
    });
    return send(this.conn, { ...options, method: 'GET', path: this.filePath(path), query, idempotent: true });
  }

  /** Streams the file at `path` (from `offset`, at most `limit` bytes). */
  async read(path: string, options: ReadOptions = {}): Promise<FileRead> {
    const res = await this.get(path, options);
    const length = res.headers['content-length'];
    const mode = res.headers['x-sandbank-file-mode'];
    const modified = res.headers['last-modified'];
    return {
      stream: Readable.toWeb(res.body) as unknown as ReadableStream<Uint8Array>,
      size: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
      mode: typeof mode === 'string' && /^[0-7]{1,6}$/.test(mode) ? parseInt(mode, 8) : undefined,
      modTime: modified === undefined || Number.isNaN(Date.parse(modified)) ? undefined : new Date(modified),
    };
  }

  /** The whole file (or its `offset`/`limit` part), up to `maxBytes`. */
  async readBytes(path: string, options: ReadBytesOptions = {}): Promise<Uint8Array> {
    const res = await this.get(path, options);
    try {
      return await readCapped(res.body, options.maxBytes ?? DEFAULT_READ_CAP_BYTES, res.signal, 'throw');
    } finally {
      res.close();
    }
  }

  /** The file as UTF-8 text, up to `maxBytes`. */
  async readText(path: string, options: ReadBytesOptions = {}): Promise<string> {
    return Buffer.from(await this.readBytes(path, options)).toString('utf8');
  }

  /**
   * Writes `content` to `path`, streamed (never held whole), atomically. Bytes and text are resent
   * after a failure on the way (the write is whole or nothing); a stream is sent once.
   */
  async write(path: string, content: FileContent, options: WriteOptions = {}): Promise<FileInfo> {
    const query = defined({
      mode: octal('mode', options.mode),
      createParents: options.createParents === false ? 'false' : 'true',
    });
    const replayable = typeof content === 'string' || content instanceof Uint8Array;
    return callJson(
      this.conn,
      {
        ...options,
        method: 'PUT',
        path: this.filePath(path),
        query,
        body: content,
        headers: { 'content-type': 'application/octet-stream' },
        idempotent: replayable,
      },
      FileInfoSchema,
      'file',
    );
  }

  /** The entries of the directory at `path` (default: the workspace). */
  async list(path = '.', options: CallOptions = {}): Promise<FileInfo[]> {
    const spec = {
      ...options,
      method: 'GET',
      path: sandboxPath(this.target, '/list'),
      query: { path },
      idempotent: true,
    };
    return (await callJson(this.conn, spec, ListSchema, 'list')).entries;
  }

  /** The entry at `path`; `NotFound` when there is none. */
  async stat(path: string, options: CallOptions = {}): Promise<FileInfo> {
    const spec = {
      ...options,
      method: 'GET',
      path: sandboxPath(this.target, '/stat'),
      query: { path },
      idempotent: true,
    };
    return callJson(this.conn, spec, FileInfoSchema, 'stat');
  }

  /** Whether `path` exists (a NotFound of the router's for the sandbox itself still throws: it names the sandbox). */
  async exists(path: string, options: CallOptions = {}): Promise<boolean> {
    try {
      await this.stat(path, options);
      return true;
    } catch (error) {
      if (error instanceof NotFound && /no such file|does not exist/i.test(error.message)) return false;
      throw error;
    }
  }

  /** Removes a file, or a directory with `recursive`. */
  async remove(path: string, options: CallOptions & { recursive?: boolean } = {}): Promise<void> {
    const { recursive, ...call } = options;
    await callEmpty(this.conn, {
      ...call,
      method: 'DELETE',
      path: this.filePath(path),
      query: { recursive: recursive ? 'true' : 'false' },
      idempotent: false,
    });
  }

  /** Makes a directory (`parents`, the default: as `mkdir -p`; false: an existing path is AlreadyExists). */
  async mkdir(
    path: string,
    options: CallOptions & { parents?: boolean; mode?: number } = {},
  ): Promise<FileInfo> {
    const { parents = true, mode, ...call } = options;
    const query = defined({ path, parents: parents ? 'true' : 'false', mode: octal('mode', mode) });
    // With parents a second mkdir of the same directory succeeds: safe to resend.
    const spec = {
      ...call,
      method: 'POST',
      path: sandboxPath(this.target, '/mkdir'),
      query,
      idempotent: parents,
    };
    return callJson(this.conn, spec, FileInfoSchema, 'mkdir');
  }
}
