/**
 * File operations on a confined workspace: what FileService and the legacy REST API share.
 * Paths come in as the caller wrote them and are confined by `Workspace.resolve`; errors are
 * AgentErrors naming the workspace-relative path. No transport knowledge here.
 */
import { createReadStream } from 'node:fs';
import type { BigIntStats, Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { AgentError } from '../errors.js';
import type { PathStyle, ResolvedPath, Workspace } from './workspace.js';

export type FileKind = 'file' | 'directory' | 'symlink' | 'other';

/** Metadata of one filesystem object, as both APIs report it. */
export interface FileMeta {
  /** Base name; `.` for the root. */
  readonly name: string;
  /** Workspace-relative path; `.` for the root. */
  readonly path: string;
  readonly size: bigint;
  readonly kind: FileKind;
  /** st_mode & 0o7777. */
  readonly mode: number;
  /** Modification time in nanoseconds since the epoch (exact; the APIs round as they need). */
  readonly mtimeNs: bigint;
}

/** Default permission bits of new directories. */
export const DEFAULT_DIR_MODE = 0o755;

/** Builds FileMeta from a bigint stat of the object at workspace-relative `rel`. */
export function metaOf(rel: string, st: BigIntStats): FileMeta {
  return {
    name: rel === '.' ? '.' : posix.basename(rel),
    path: rel,
    size: st.size,
    kind: kindOf(st),
    mode: Number(st.mode & 0o7777n),
    mtimeNs: st.mtimeNs,
  };
}

function kindOf(st: BigIntStats | Stats): FileKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** Describes `input`, following symlinks. A missing path is `not_found`. */
export async function statPath(ws: Workspace, input: string, style?: PathStyle): Promise<FileMeta> {
  const target = await ws.resolve(input, style === undefined ? {} : { style });
  return metaOf(target.rel, await stat(target.abs, { bigint: true }).catch(fail(target.rel)));
}

/**
 * Lists a directory's entries sorted by name (byte order). `followLinks: false` (gRPC) reports
 * symlinks as such; `true` (legacy REST) describes what they point to, and a dangling link as
 * the link itself.
 */
export async function listDir(
  ws: Workspace,
  input: string,
  options: { followLinks: boolean; style?: PathStyle },
): Promise<FileMeta[]> {
  const dir = await ws.resolve(input, options.style === undefined ? {} : { style: options.style });
  const names = await readdir(dir.abs).catch(fail(dir.rel));
  names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const entries: FileMeta[] = [];
  for (const name of names) {
    const abs = posix.join(dir.abs, name);
    const rel = dir.rel === '.' ? name : `${dir.rel}/${name}`;
    try {
      let st = await lstat(abs, { bigint: true });
      if (options.followLinks && st.isSymbolicLink()) st = await stat(abs, { bigint: true }).catch(() => st);
      entries.push(metaOf(rel, st));
    } catch {
      // Deleted between readdir and lstat: it is no longer an entry.
    }
  }
  return entries;
}

export interface ReadOptions {
  readonly offset?: bigint;
  readonly limit?: bigint | undefined;
  readonly chunkSize: number;
  readonly style?: PathStyle;
}

/**
 * Opens a regular file for streaming. The stream reads `chunkSize` bytes at a time and only as
 * fast as it is consumed, so a file of any size passes through in bounded memory. A directory
 * is `failed_precondition`; the caller must consume or destroy the stream.
 */
export async function openForRead(
  ws: Workspace,
  input: string,
  options: ReadOptions,
): Promise<{ meta: FileMeta; stream: Readable | undefined }> {
  const target = await ws.resolve(input, options.style === undefined ? {} : { style: options.style });
  const handle = await open(target.abs, 'r').catch(fail(target.rel));
  try {
    const st = await handle.stat({ bigint: true });
    if (!st.isFile()) {
      throw new AgentError(
        'failed_precondition',
        `'${target.rel}' is ${st.isDirectory() ? 'a directory' : 'not a regular file'}`,
      );
    }
    const meta = metaOf(target.rel, st);
    const start = options.offset ?? 0n;
    const end = options.limit === undefined ? st.size : min(st.size, start + options.limit);
    if (start >= end) {
      await handle.close();
      return { meta, stream: undefined };
    }
    const stream = createReadStream('', {
      fd: handle,
      start: Number(start),
      end: Number(end) - 1,
      highWaterMark: options.chunkSize,
    });
    return { meta, stream };
  } catch (error) {
    await handle.close();
    throw AgentError.from(error, target.rel);
  }
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/**
 * Removes a file, a symlink (never its target) or a directory (with its content if
 * `recursive`). The root itself is `permission_denied`.
 */
export async function removePath(ws: Workspace, input: string, recursive: boolean): Promise<void> {
  if (input === '') throw new AgentError('invalid_argument', 'path is required');
  const target = await ws.resolve(input, { followLast: false });
  if (target.rel === '.' || target.abs === ws.root) {
    throw new AgentError('permission_denied', 'the workspace root cannot be removed');
  }
  const st = await lstat(target.abs).catch(fail(target.rel));
  if (st.isDirectory()) {
    if (recursive) await rm(target.abs, { recursive: true, force: false }).catch(fail(target.rel));
    else await rmdir(target.abs).catch(fail(target.rel));
  } else {
    await rm(target.abs).catch(fail(target.rel));
  }
}

/**
 * Creates a directory with `mode` (default 0o755, exact: the umask does not apply). With
 * `parents`, missing parents are created too and an existing directory is accepted.
 */
export async function makeDir(
  ws: Workspace,
  input: string,
  options: { parents: boolean; mode?: number | undefined },
): Promise<FileMeta> {
  if (input === '') throw new AgentError('invalid_argument', 'path is required');
  const mode = options.mode ?? DEFAULT_DIR_MODE;
  const target = await ws.resolve(input);
  if (target.exists) {
    const st = await stat(target.abs, { bigint: true }).catch(fail(target.rel));
    if (options.parents && st.isDirectory()) return metaOf(target.rel, st);
    throw new AgentError('already_exists', `'${target.rel}' already exists`);
  }
  if (options.parents) {
    const first = await mkdir(target.abs, { recursive: true, mode }).catch(fail(target.rel));
    // mkdir -p reports the first directory it created; fix the mode of each one below it.
    for (let dir = target.abs; first !== undefined; dir = posix.dirname(dir)) {
      await chmod(dir, mode).catch(fail(target.rel));
      if (dir === first || dir.length <= first.length) break;
    }
  } else {
    await mkdir(target.abs, { mode }).catch(failMkdir(target));
    await chmod(target.abs, mode).catch(fail(target.rel));
  }
  return metaOf(target.rel, await stat(target.abs, { bigint: true }).catch(fail(target.rel)));
}

function failMkdir(target: ResolvedPath): (error: unknown) => never {
  return (error) => {
    const mapped = AgentError.from(error, target.rel);
    if (mapped.code === 'not_found') {
      throw new AgentError(
        'not_found',
        `parent of '${target.rel}' does not exist; set parents to create it`,
        {
          cause: error,
        },
      );
    }
    throw mapped;
  };
}

/** A `.catch` handler that rethrows as an AgentError about `rel`. */
export function fail(rel: string): (error: unknown) => never {
  return (error) => {
    throw AgentError.from(error, rel);
  };
}
