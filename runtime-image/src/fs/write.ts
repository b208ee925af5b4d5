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
import { createWriteStream } from 'node:fs';
import { link, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AgentError, errnoOf } from '../errors.js';
import { DEFAULT_DIR_MODE, fail, metaOf } from './files.js';
import type { FileMeta } from './files.js';
import type { PathStyle, Workspace } from './workspace.js';

/** Default permission bits of a written file. */
export const DEFAULT_FILE_MODE = 0o644;

export interface WriteOptions {
  /** Permission bits, at most 0o777 (exact: the umask does not apply). Default 0o644. */
  readonly mode?: number | undefined;
  /** Create missing parent directories (0o755). Default true. */
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
  const target = await ws.resolve(input, options.style === undefined ? {} : { style: options.style });
  if (target.abs === ws.root) throw new AgentError('failed_precondition', `'${target.rel}' is a directory`);
  if (target.exists) {
    const st = await stat(target.abs).catch(fail(target.rel));
    if (options.exclusive) throw new AgentError('already_exists', `'${target.rel}' already exists`);
    if (st.isDirectory()) throw new AgentError('failed_precondition', `'${target.rel}' is a directory`);
  }
  const dir = posix.dirname(target.abs);
  if (options.createParents ?? true) {
    await mkdir(dir, { recursive: true, mode: DEFAULT_DIR_MODE }).catch(fail(ws.relativeOf(dir)));
  } else {
    const parent = await stat(dir).catch((error: unknown) => {
      if (errnoOf(error) === 'ENOENT') {
        throw new AgentError(
          'not_found',
          `parent of '${target.rel}' does not exist; set create_parents to create it`,
        );
      }
      throw AgentError.from(error, ws.relativeOf(dir));
    });
    if (!parent.isDirectory())
      throw new AgentError('failed_precondition', `parent of '${target.rel}' is not a directory`);
  }

  const temp = posix.join(
    dir,
    `.${posix.basename(target.abs).slice(0, 200)}.${randomBytes(6).toString('hex')}.sandbank-tmp`,
  );
  const handle = await open(temp, 'wx', mode).catch(fail(target.rel));
  let committed = false;
  try {
    await handle.chmod(mode);
    const sink = createWriteStream('', { fd: handle });
    await pipeline(content, sink, options.signal ? { signal: options.signal } : {});
    if (options.exclusive) {
      // link() fails if the target appeared meanwhile, where rename() would replace it.
      await link(temp, target.abs);
      await unlink(temp);
    } else {
      await rename(temp, target.abs);
    }
    committed = true;
    return metaOf(target.rel, await stat(target.abs, { bigint: true }));
  } catch (error) {
    throw AgentError.from(error, target.rel);
  } finally {
    if (!committed) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
    }
  }
}
