/**
 * File operations on a confined workspace: what FileService and the legacy REST API share.
 * Paths come in as the caller wrote them and are walked by `Workspace.use`; every operation acts
 * on the walk's final entry through its parent's descriptor and opens nothing but regular files
 * and directories (a FIFO, socket or device is refused from its lstat, before any open). Errors
 * are AgentErrors naming the workspace-relative path. No transport knowledge here.
 */
import { createReadStream } from 'node:fs';
import type { BigIntStats, Stats } from 'node:fs';
import { mkdir, rmdir, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { AgentError, errnoOf } from '../errors.js';
import { EntryChanged, entryPath, lstatEntry, openExamined, readNames, specialKind } from './at.js';
import type { Entry, PathStyle, Workspace } from './workspace.js';

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

/** Describes `input`, following symlinks inside the workspace. A missing path is `not_found`. */
export async function statPath(ws: Workspace, input: string, style?: PathStyle): Promise<FileMeta> {
  return ws.use(input, { style }, async (entry) => metaOf(entry.rel, existing(entry)));
}

/**
 * Lists a directory's entries sorted by name (byte order). `followLinks: false` (gRPC) reports
 * symlinks as such; `true` (legacy REST) describes what they point to if that is inside the
 * workspace, and otherwise (outside, dangling) the link itself.
 */
export async function listDir(
  ws: Workspace,
  input: string,
  options: { followLinks: boolean; style?: PathStyle },
): Promise<FileMeta[]> {
  const listed = await ws.use(input, { style: options.style }, async (entry) => {
    const handle = await openDirectory(entry);
    try {
      const fd = handle?.fd ?? entry.dirFd;
      const names = await readNames(fd);
      names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      const found: { rel: string; st: BigIntStats }[] = [];
      for (const name of names) {
        // Gone between readdir and lstat: it is no longer an entry.
        const st = await lstatEntry(entryPath(fd, name));
        if (st) found.push({ rel: entry.rel === '.' ? name : `${entry.rel}/${name}`, st });
      }
      return found;
    } finally {
      await handle?.close();
    }
  });
  const entries: FileMeta[] = [];
  for (const { rel, st } of listed) {
    let described = st;
    if (options.followLinks && st.isSymbolicLink()) {
      // Through a walk of its own, so a link never reveals anything outside the workspace.
      described = await ws.use(rel, {}, async (target) => target.stat ?? st).catch(() => st);
    }
    entries.push(metaOf(rel, described));
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
 * fast as it is consumed, so a file of any size passes through in bounded memory. A directory,
 * FIFO, socket or device is `failed_precondition`, refused before anything is opened; the caller
 * must consume or destroy the stream.
 */
export async function openForRead(
  ws: Workspace,
  input: string,
  options: ReadOptions,
): Promise<{ meta: FileMeta; stream: Readable | undefined }> {
  return ws.use(input, { style: options.style }, async (entry) => {
    const examined = existing(entry);
    if (!examined.isFile()) {
      const kind = examined.isDirectory() ? 'a directory' : (specialKind(examined) ?? 'not a regular file');
      throw new AgentError(
        'failed_precondition',
        `'${entry.rel}' is ${kind}; only regular files can be read`,
      );
    }
    const handle = await openExamined(entry.dirFd, entry.name, examined);
    try {
      const st = await handle.stat({ bigint: true });
      const meta = metaOf(entry.rel, st);
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
      throw error;
    }
  });
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
  await ws.use(input, { followLast: false }, async (entry) => {
    if (entry.name === '') throw new AgentError('permission_denied', 'the workspace root cannot be removed');
    const st = existing(entry);
    if (!st.isDirectory()) await unlink(entry.path);
    else if (recursive) await removeTree(entry.dirFd, entry.name, st);
    else await rmdir(entry.path);
  });
}

/**
 * Removes directory `name` of `dirFd` and everything in it, each level through its own
 * descriptor, so no link inside is ever followed. Entries that vanish meanwhile are skipped.
 */
async function removeTree(dirFd: number, name: string, examined: BigIntStats): Promise<void> {
  const handle = await openExamined(dirFd, name, examined);
  try {
    for (const child of await readNames(handle.fd)) {
      const st = await lstatEntry(entryPath(handle.fd, child));
      if (st === undefined) continue;
      if (st.isDirectory()) await removeTree(handle.fd, child, st);
      else await unlink(entryPath(handle.fd, child)).catch(ignoreMissing);
    }
  } finally {
    await handle.close();
  }
  await rmdir(entryPath(dirFd, name));
}

function ignoreMissing(error: unknown): void {
  if (errnoOf(error) !== 'ENOENT') throw error;
}

/**
 * Creates a directory with `mode` (default 0o755, exact: the umask does not apply). With
 * `parents`, missing parents are created too (with the same mode) and an existing directory is
 * accepted.
 */
export async function makeDir(
  ws: Workspace,
  input: string,
  options: { parents: boolean; mode?: number | undefined },
): Promise<FileMeta> {
  if (input === '') throw new AgentError('invalid_argument', 'path is required');
  const mode = options.mode ?? DEFAULT_DIR_MODE;
  const walk = { createParentsMode: options.parents ? mode : undefined, parentsOption: 'parents' };
  return ws.use(input, walk, async (entry) => {
    if (entry.stat) {
      if (options.parents && entry.stat.isDirectory()) return metaOf(entry.rel, entry.stat);
      throw new AgentError('already_exists', `'${entry.rel}' already exists`);
    }
    try {
      await mkdir(entry.path, { mode });
    } catch (error) {
      // Made meanwhile: with parents, look again (it may be a directory); without, it exists.
      if (errnoOf(error) === 'EEXIST' && options.parents) throw new EntryChanged(entry.name);
      throw error;
    }
    const made = await lstatEntry(entry.path);
    if (made === undefined || !made.isDirectory())
      throw new AgentError('already_exists', `'${entry.rel}' already exists`);
    const handle = await openExamined(entry.dirFd, entry.name, made);
    try {
      await handle.chmod(mode);
      return metaOf(entry.rel, await handle.stat({ bigint: true }));
    } finally {
      await handle.close();
    }
  });
}

/** The entry's lstat; `not_found` if there is none. */
export function existing(entry: Entry): BigIntStats {
  if (entry.stat === undefined)
    throw new AgentError('not_found', `'${entry.rel}': no such file or directory`);
  return entry.stat;
}

/**
 * The entry, a directory, opened for reading its names: undefined for the root (its descriptor
 * is already open). Anything else is `failed_precondition`, refused before opening.
 */
async function openDirectory(entry: Entry): Promise<FileHandle | undefined> {
  const st = existing(entry);
  if (!st.isDirectory()) throw new AgentError('failed_precondition', `'${entry.rel}': not a directory`);
  if (entry.name === '') return undefined;
  return openExamined(entry.dirFd, entry.name, st);
}

/** A `.catch` handler that rethrows as an AgentError about `rel`. */
export function fail(rel: string): (error: unknown) => never {
  return (error) => {
    throw AgentError.from(error, rel);
  };
}
