/**
 * Path confinement: every path a caller names is resolved inside the workspace root, or refused,
 * and the kernel never follows a symbolic link on the way.
 *
 * `normalize` is lexical and needs no disk: it refuses NUL bytes, over-long names and `..` that
 * climbs above the root, and turns the input into a '/'-separated workspace-relative path (`.`
 * for the root). `use` then walks that path from a descriptor of the root opened once at start,
 * one component at a time through its parent's descriptor (see at.ts): each component is
 * examined with lstat, opened with O_NOFOLLOW, and checked to be the object examined. A symbolic
 * link on the way is read and its target resolved here, lexically: a relative target against
 * the directory holding the link, an absolute one only if it names the root (as configured or
 * its real path); a target leading outside is refused, and any other restarts the walk from the
 * root with the target spliced in. The operation then acts on the final entry through its
 * parent's descriptor. So code in the sandbox that swaps a directory for a link between two
 * steps either shows the agent the link (which is judged) or is too late (the directory is
 * already open): there is no window in which a name the agent did not examine is resolved.
 *
 * Not promised: a directory the walk holds open can be moved elsewhere by code in the sandbox
 * while the operation runs, which then completes where the directory now is. That code could
 * move those files itself; it cannot make the agent reach a file that was never in the
 * workspace.
 */
import { openSync, closeSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { mkdir, readlink, realpath, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { AgentError, errnoOf } from '../errors.js';
import { EntryChanged, entryPath, fdPath, lstatEntry, openExamined } from './at.js';

/** Longest file name component, in bytes (NAME_MAX). */
export const MAX_NAME_BYTES = 255;
/** Longest path, in bytes (PATH_MAX less the terminating NUL). */
export const MAX_PATH_BYTES = 4095;
/** Symbolic links followed by hand before giving up (the kernel's limit, MAXSYMLINKS). */
const MAX_LINK_HOPS = 40;
/** Walks started over because an entry changed under them, before answering `unavailable`. */
const MAX_ATTEMPTS = 8;

/**
 * How absolute inputs are read. `workspace` (the gRPC contract): an absolute path must lie
 * inside the root. `legacy` (the python-runtime REST API): leading slashes are dropped, so
 * `/data/x` means `<root>/data/x`, as upstream's `lstrip("/")` does.
 */
export type PathStyle = 'workspace' | 'legacy';

/** The final entry of a walk, for an operation to act on through its parent's descriptor. */
export interface Entry {
  /** Workspace-relative as the caller named it, normalized; `.` for the root. */
  readonly rel: string;
  /** The open directory holding the entry (the root's own descriptor for the root itself). */
  readonly dirFd: number;
  /** The entry's name in that directory; '' when the entry is the root. */
  readonly name: string;
  /** `entryPath(dirFd, name)`: a path that reaches this entry and never follows a link in it. */
  readonly path: string;
  /** Its lstat when the walk reached it; undefined if there is no such entry (yet). */
  readonly stat: BigIntStats | undefined;
}

export interface WalkOptions {
  readonly style?: PathStyle | undefined;
  /**
   * `true` (default): a symlink as the last component is followed (inside the workspace), as
   * reading does. `false`: the entry is the link itself, as removing needs.
   */
  readonly followLast?: boolean;
  /** Create missing parent directories with exactly this mode; default: they must exist. */
  readonly createParentsMode?: number | undefined;
  /** The option that would create a missing parent, named in the error (e.g. `parents`). */
  readonly parentsOption?: string;
}

/** A path that passed confinement, as a path string (see `Workspace.resolve`). */
export interface ResolvedPath {
  readonly rel: string;
  readonly abs: string;
  readonly exists: boolean;
}

interface OpenDir {
  readonly fd: number;
  /** Workspace-relative ('.' for the root). */
  readonly rel: string;
  /** Undefined for the root, which stays open. */
  readonly handle: FileHandle | undefined;
}

export class Workspace {
  private constructor(
    /** The root's real path when it was opened. */
    readonly root: string,
    /** The root as configured (may differ from `root` if it is itself a symlink). */
    private readonly configuredRoot: string,
    /** The root's descriptor: every walk starts here, whatever becomes of the root's name. */
    private readonly rootFd: number,
  ) {}

  /**
   * Opens a workspace at `root`, which must be an existing directory, and checks that
   * `/proc/self/fd` names open directories (it must: confinement depends on it).
   */
  static async open(root: string): Promise<Workspace> {
    const configured = posix.resolve(root);
    let real: string;
    try {
      real = await realpath(configured);
    } catch (error) {
      throw new Error(`workspace root ${configured} is not usable: ${errnoOf(error) ?? String(error)}`);
    }
    const fd = openSync(real, 'r');
    try {
      const [byPath, byFd] = await Promise.all([stat(real), stat(fdPath(fd))]);
      if (!byPath.isDirectory()) throw new Error(`workspace root ${configured} is not a directory`);
      if (byPath.ino !== byFd.ino || byPath.dev !== byFd.dev) {
        throw new Error(`${fdPath(fd)} does not name the workspace root: /proc must be mounted`);
      }
    } catch (error) {
      closeSync(fd);
      if (errnoOf(error) === 'ENOENT') throw new Error(`${fdPath(fd)} is missing: /proc must be mounted`);
      throw error;
    }
    return new Workspace(real, configured, fd);
  }

  /** Closes the root's descriptor; the workspace cannot be used afterwards. */
  close(): void {
    closeSync(this.rootFd);
  }

  /**
   * Validates `input` and returns its workspace-relative form (`.` for the root) without touching
   * the disk. Throws `invalid_argument` for NUL bytes and over-long names, `permission_denied`
   * for paths that leave the root lexically.
   */
  normalize(input: string, style: PathStyle = 'workspace'): string {
    if (input.includes('\0')) throw new AgentError('invalid_argument', 'path contains a NUL byte');
    if (Buffer.byteLength(input) > MAX_PATH_BYTES) {
      throw new AgentError('invalid_argument', `path is longer than ${MAX_PATH_BYTES} bytes`);
    }
    for (const part of input.split('/')) {
      if (Buffer.byteLength(part) > MAX_NAME_BYTES) {
        throw new AgentError(
          'invalid_argument',
          `path component '${part.slice(0, 32)}…' is longer than ${MAX_NAME_BYTES} bytes`,
        );
      }
    }
    let relative: string;
    if (input.startsWith('/') && style === 'workspace') {
      const under = this.insideRoot(posix.normalize(input));
      if (under === undefined) {
        throw new AgentError(
          'permission_denied',
          `path '${input}' is outside the workspace ${this.configuredRoot}`,
        );
      }
      relative = under;
    } else {
      relative = input.replace(/^\/+/, '');
    }
    const normalized = posix.normalize(relative === '' ? '.' : relative).replace(/\/+$/, '') || '.';
    if (normalized === '..' || normalized.startsWith('../')) {
      throw new AgentError('permission_denied', `path '${input}' leads outside the workspace`);
    }
    return normalized;
  }

  /**
   * Normalizes `input`, walks to its final entry (see the module comment) and runs `operate` on
   * it while its parent directory is held open. `operate` acts only through `entry.path` or
   * descriptors it opens with `openExamined`; if it throws `EntryChanged`, the walk starts over
   * and `operate` runs again (so what it did before must be safe to do again, as removing what
   * is left is). Errors name the workspace-relative path.
   */
  async use<T>(input: string, options: WalkOptions, operate: (entry: Entry) => Promise<T>): Promise<T> {
    const rel = this.normalize(input, options.style);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.walk(rel, options, operate);
      } catch (error) {
        if (!(error instanceof EntryChanged)) throw AgentError.from(error, rel);
        if (attempt >= MAX_ATTEMPTS) {
          throw new AgentError(
            'unavailable',
            `'${rel}' kept changing while it was being resolved; try again`,
          );
        }
      }
    }
  }

  /**
   * Where `input` is now, as a real path, for the one caller that needs a path string: an exec's
   * working directory, entered by a process of the sandbox's own user (which could go anywhere
   * its user may anyway). File operations use `use`.
   */
  async resolve(input: string, options: { style?: PathStyle } = {}): Promise<ResolvedPath> {
    const rel = this.normalize(input, options.style);
    try {
      return await this.use(rel, {}, async (entry) => {
        const dir = await readlink(fdPath(entry.dirFd));
        const abs = entry.name === '' ? dir : posix.join(dir, entry.name);
        if (this.insideRoot(abs) === undefined) throw outside(rel);
        return { rel, abs, exists: entry.stat !== undefined };
      });
    } catch (error) {
      if (error instanceof AgentError && error.code === 'not_found') {
        return { rel, abs: posix.join(this.root, rel), exists: false };
      }
      throw error;
    }
  }

  private async walk<T>(
    rel: string,
    options: WalkOptions,
    operate: (entry: Entry) => Promise<T>,
  ): Promise<T> {
    const root: OpenDir = { fd: this.rootFd, rel: '.', handle: undefined };
    let parts = rel === '.' ? [] : rel.split('/');
    let hops = 0;
    let dir = root;
    try {
      if (parts.length === 0) return await this.operateOnRoot(operate);
      for (let i = 0; i < parts.length; i++) {
        const name = parts[i] as string;
        const last = i === parts.length - 1;
        const path = entryPath(dir.fd, name);
        let st = await lstatEntry(path);
        if (st?.isSymbolicLink() && (!last || options.followLast !== false)) {
          if (++hops > MAX_LINK_HOPS) {
            throw new AgentError('invalid_argument', `'${rel}': too many levels of symbolic links`);
          }
          parts = this.throughLink(rel, dir.rel, await readlinkEntry(path), parts.slice(i + 1));
          await dir.handle?.close();
          dir = root;
          if (parts.length === 0) return await this.operateOnRoot(operate);
          i = -1;
          continue;
        }
        if (last) return await operate({ rel, dirFd: dir.fd, name, path, stat: st });
        let created = false;
        if (st === undefined) {
          const mode = options.createParentsMode;
          if (mode === undefined) throw missingParent(rel, options.parentsOption);
          created = await mkdir(path, { mode }).then(
            () => true,
            (error: unknown) => {
              if (errnoOf(error) === 'EEXIST') return false; // made meanwhile: examined below
              throw error;
            },
          );
          st = await lstatEntry(path);
          if (st === undefined || st.isSymbolicLink()) throw new EntryChanged(name);
        }
        if (!st.isDirectory()) {
          const prefix = posix.join(dir.rel, name);
          throw new AgentError('failed_precondition', `'${rel}': '${prefix}' is not a directory`);
        }
        const handle = await openExamined(dir.fd, name, st);
        const child: OpenDir = { fd: handle.fd, rel: posix.join(dir.rel, name), handle };
        await dir.handle?.close();
        dir = child;
        // mkdir applies the umask; the mode asked for is exact.
        if (created && options.createParentsMode !== undefined) await handle.chmod(options.createParentsMode);
      }
      throw new Error('unreachable: a walk ends at its last component');
    } finally {
      await dir.handle?.close();
    }
  }

  private async operateOnRoot<T>(operate: (entry: Entry) => Promise<T>): Promise<T> {
    const path = fdPath(this.rootFd);
    return operate({
      rel: '.',
      dirFd: this.rootFd,
      name: '',
      path,
      stat: await stat(path, { bigint: true }),
    });
  }

  /**
   * The components to walk after meeting a link in directory `dirRel` whose target is `target`,
   * followed by the `rest` of the path. Lexical, so nothing on disk is consulted; `permission_denied`
   * if the result is not inside the workspace.
   */
  private throughLink(rel: string, dirRel: string, target: string, rest: readonly string[]): string[] {
    const base = target.startsWith('/')
      ? this.insideRoot(posix.normalize(target))
      : posix.join(dirRel, target);
    if (base === undefined) throw outside(rel);
    const joined = posix.normalize([base, ...rest].join('/')).replace(/\/+$/, '');
    if (joined === '..' || joined.startsWith('../')) throw outside(rel);
    return joined.split('/').filter((part) => part !== '' && part !== '.');
  }

  /** An absolute, normalized path relative to the root (as configured or real), if inside it. */
  private insideRoot(abs: string): string | undefined {
    return relativeInside(this.configuredRoot, abs) ?? relativeInside(this.root, abs);
  }
}

function outside(rel: string): AgentError {
  return new AgentError(
    'permission_denied',
    `path '${rel}' resolves outside the workspace (through a symbolic link)`,
  );
}

function missingParent(rel: string, option: string | undefined): AgentError {
  return option === undefined
    ? new AgentError('not_found', `'${rel}': no such file or directory`)
    : new AgentError('not_found', `parent of '${rel}' does not exist; set ${option} to create it`);
}

/** A link's target; `EntryChanged` if the entry is no longer a link. */
async function readlinkEntry(path: string): Promise<string> {
  try {
    return await readlink(path);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'EINVAL' || errno === 'ENOENT') throw new EntryChanged(path, { cause: error });
    throw error;
  }
}

/** `abs` relative to `root` if it is the root or below it, else undefined. */
function relativeInside(root: string, abs: string): string | undefined {
  if (abs === root) return '.';
  const prefix = root === '/' ? '/' : `${root}/`;
  return abs.startsWith(prefix) ? abs.slice(prefix.length) : undefined;
}
