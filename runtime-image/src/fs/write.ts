/**
 * Atomic file writes: bytes go to a temporary file beside the target, which replaces the target
 * in one `rename` once every byte is on disk. Readers see the old content or the new, never a
 * mix; a failed or aborted write removes the temporary file and leaves the target untouched.
 *
 * No fsync: the guarantee is atomic replacement while the machine runs, not durability across a
 * power loss (a sandbox's workspace does not outlive its node). Syncing 1 GiB would cost
 * seconds for a promise nobody can use.
 */
import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AgentError } from '../errors.js';
import { CREATE_NEW, entryPath } from './at.js';
import { DEFAULT_DIR_MODE, metaOf } from './files.js';
import type { FileMeta } from './files.js';
import type { PathStyle, Workspace } from './workspace.js';

/** Default permission bits of a written file. */
export const DEFAULT_FILE_MODE = 0o644;

export interface WriteOptions {
  /** Permission bits, at most 0o777 (exact: the umask does not apply). Default 0o644. */
  readonly mode?: number | undefined;
  /** Create missing parent directories (0o755, exact). Default true. */
  readonly createParents?: boolean | undefined;
  /** Fail with `already_exists` instead of replacing an existing file. */
  readonly exclusive?: boolean | undefined;
  readonly style?: PathStyle;
  /** Aborting stops the write and removes the temporary file. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Writes `content` (consumed as fast as the disk takes it: a slow disk slows the source down)
 * to `input` atomically and returns the new file's metadata.
 */
export async function writeFileAtomic(
  ws: Workspace,
  input: string,
  content: AsyncIterable<Uint8Array>,
  options: WriteOptions = {},
): Promise<FileMeta> {
  if (input === '' || input === '.') throw new AgentError('invalid_argument', 'path is required');
  const mode = options.mode ?? DEFAULT_FILE_MODE;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new AgentError('invalid_argument', `mode ${mode.toString(8)} is out of range (at most 0777)`);
  }
  const walk = {
    style: options.style,
    createParentsMode: (options.createParents ?? true) ? DEFAULT_DIR_MODE : undefined,
    parentsOption: 'create_parents',
  };
  return ws.use(input, walk, async (entry) => {
    if (entry.name === '') throw new AgentError('failed_precondition', `'${entry.rel}' is a directory`);
    if (entry.stat) {
      if (options.exclusive) throw new AgentError('already_exists', `'${entry.rel}' already exists`);
      if (entry.stat.isDirectory())
        throw new AgentError('failed_precondition', `'${entry.rel}' is a directory`);
    }
    // Beside the target, in the directory the walk holds open; O_EXCL: never an existing entry.
    const tempName = `.${entry.name.slice(0, 200)}.${randomBytes(6).toString('hex')}.sandbank-tmp`;
    const temp = entryPath(entry.dirFd, tempName);
    const handle = await open(temp, CREATE_NEW, mode);
    let committed = false;
    try {
      await handle.chmod(mode);
      await pipeline(content, sinkOf(handle), options.signal ? { signal: options.signal } : {});
      options.signal?.throwIfAborted();
      // rename and link act on the names in that directory; neither follows a link there.
      if (options.exclusive) {
        // link() fails if the target appeared meanwhile, where rename() would replace it.
        await link(temp, entry.path);
        await unlink(temp);
      } else {
        await rename(temp, entry.path);
      }
      committed = true;
      return metaOf(entry.rel, await handle.stat({ bigint: true }));
    } finally {
      await handle.close().catch(() => undefined);
      if (!committed) await unlink(temp).catch(() => undefined);
    }
  });
}

/**
 * A stream writing to `handle` that leaves it open (an fs.WriteStream on a FileHandle holds it
 * until the stream closes it), so the file can still be described after the rename.
 */
function sinkOf(handle: FileHandle): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writeAll(handle, chunk).then(() => callback(), callback);
    },
  });
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}
