/**
 * openat(2)-style file access for Node, which has no *at calls.
 *
 * A directory held open as descriptor N is `/proc/self/fd/N`, and `/proc/self/fd/N/name` is the
 * entry `name` in exactly that directory, whatever was renamed or swapped on the path that led
 * to it: the kernel follows the fd link (a "magic link" to the open directory itself, not a path
 * that could be re-resolved), then looks `name` up as the final component. So the calls that do
 * not follow a final symlink (lstat, readlink, unlink, rmdir, mkdir, rename, link, open with
 * O_NOFOLLOW or O_CREAT|O_EXCL) act on that entry and on nothing else.
 *
 * Works on Linux and in gVisor (its procfs resolves fd links to the open file the same way),
 * with one difference that shapes the flags below: gVisor follows a final symlink when
 * O_DIRECTORY is set, even with O_NOFOLLOW, where Linux answers ENOTDIR. So directories are
 * opened without O_DIRECTORY, and every open is checked (`openExamined`) to be the very object
 * that lstat examined before it.
 */
import type { BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { errnoOf } from '../errors.js';

/** The path naming open descriptor `fd` itself. */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/** The path naming entry `name` of the directory open as `dirFd`; `name` has no '/'. */
export function entryPath(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}

/**
 * Opening an entry that exists: a final symlink is refused (ELOOP), a FIFO can never block the
 * opening thread (O_NONBLOCK), a terminal never becomes the agent's (O_NOCTTY). Node adds
 * O_CLOEXEC itself.
 */
const OPEN_EXAMINED = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Creating a file that can only be new: O_EXCL refuses any existing entry, a symlink included. */
export const CREATE_NEW =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NOCTTY;

/**
 * The entry changed between being examined and being used (swapped, replaced, removed): the
 * caller starts over from the workspace root. Never reaches a caller of the agent.
 */
export class EntryChanged extends Error {
  override readonly name = 'EntryChanged';
}

/**
 * Opens entry `name` of directory `dirFd` for reading, given `examined`, its lstat: the
 * descriptor is returned only if it is that same object (device and inode), else
 * `EntryChanged`. Callers refuse FIFOs, sockets and devices from `examined` before calling.
 */
export async function openExamined(dirFd: number, name: string, examined: BigIntStats): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(entryPath(dirFd, name), OPEN_EXAMINED);
  } catch (error) {
    // Now a symlink (ELOOP), gone (ENOENT), or the directory itself was replaced (ENOTDIR).
    const errno = errnoOf(error);
    if (errno === 'ELOOP' || errno === 'ENOENT' || errno === 'ENOTDIR' || errno === 'ENXIO') {
      throw new EntryChanged(name, { cause: error });
    }
    throw error;
  }
  try {
    const opened = await handle.stat({ bigint: true });
    if (opened.dev !== examined.dev || opened.ino !== examined.ino) throw new EntryChanged(name);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * The names in the directory open as `fd`. gVisor answers EINVAL when that directory is renamed
 * while it is read; that is a change like any other (`EntryChanged`).
 */
export async function readNames(fd: number): Promise<string[]> {
  try {
    return await readdir(fdPath(fd));
  } catch (error) {
    if (errnoOf(error) === 'EINVAL') throw new EntryChanged(fdPath(fd), { cause: error });
    throw error;
  }
}

/** lstat of an entry, or undefined if there is none. */
export async function lstatEntry(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(path, { bigint: true });
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** What a non-regular, non-directory object is, in words, for refusals. */
export function specialKind(st: BigIntStats): string | undefined {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return undefined;
}
