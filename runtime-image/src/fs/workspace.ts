/**
 * Path confinement: every path a caller names is turned into a real path inside the workspace
 * root, or refused.
 *
 * Two steps. `normalize` is lexical and needs no disk: it refuses NUL bytes, over-long names and
 * `..` that climbs above the root, and turns the input into a '/'-separated workspace-relative
 * path (`.` for the root). `resolve` then follows symbolic links on disk, component by
 * component, and refuses a result outside the root's real path. Links are followed by the
 * kernel's own `realpath`, so magic links such as `/proc/self/root` resolve to what they really
 * are; dangling links (whose target does not exist yet, as for a file about to be written) are
 * followed by hand, so writing through `link -> /etc/x` is refused too.
 *
 * Guarantees: a path that passed `resolve` pointed inside the root when it was checked.
 * Caveat: code running in the sandbox could swap a directory for a symlink between the check
 * and the use. That code runs as the same user as the agent and can already read and write
 * anything the agent can, so the race gains it nothing; confinement protects the API's
 * callers from naming paths outside the workspace, not the sandbox from itself (gVisor does
 * that).
 */
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { AgentError, errnoOf } from '../errors.js';

/** Longest file name component, in bytes (NAME_MAX). */
export const MAX_NAME_BYTES = 255;
/** Longest path, in bytes (PATH_MAX less the terminating NUL). */
export const MAX_PATH_BYTES = 4095;
/** Symbolic links followed by hand before giving up (the kernel's limit, MAXSYMLINKS). */
const MAX_LINK_HOPS = 40;

/**
 * How absolute inputs are read. `workspace` (the gRPC contract): an absolute path must lie
 * inside the root. `legacy` (the python-runtime REST API): leading slashes are dropped, so
 * `/data/x` means `<root>/data/x`, as upstream's `lstrip("/")` does.
 */
export type PathStyle = 'workspace' | 'legacy';

/** A path that passed confinement. */
export interface ResolvedPath {
  /** Workspace-relative and '/'-separated; `.` for the root. What messages and responses show. */
  readonly rel: string;
  /** The real absolute path on disk to operate on. */
  readonly abs: string;
  /** Whether `abs` existed when it was resolved. */
  readonly exists: boolean;
}

export interface ResolveOptions {
  readonly style?: PathStyle;
  /**
   * `true` (default): follow a symlink in the last component too, as reading does.
   * `false`: resolve only the parent and keep the last component as named, as removing a
   * symlink or listing a directory entry needs.
   */
  readonly followLast?: boolean;
}

export class Workspace {
  private constructor(
    /** The root's real path: every resolved path starts with it. */
    readonly root: string,
    /** The root as configured (may differ from `root` if it is itself a symlink). */
    private readonly configuredRoot: string,
  ) {}

  /** Opens a workspace at `root`, which must be an existing directory. */
  static async open(root: string): Promise<Workspace> {
    const configured = posix.resolve(root);
    let real: string;
    try {
      real = await realpath(configured);
    } catch (error) {
      throw new Error(`workspace root ${configured} is not usable: ${errnoOf(error) ?? String(error)}`);
    }
    if (!(await stat(real)).isDirectory()) throw new Error(`workspace root ${configured} is not a directory`);
    return new Workspace(real, configured);
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
      const absolute = posix.normalize(input);
      const under = [this.configuredRoot, this.root]
        .map((root) => relativeInside(root, absolute))
        .find((r) => r !== undefined);
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
   * Normalizes `input` and resolves it on disk; see the module comment. A missing path is not an
   * error here (callers decide); a path whose real location is outside the root is
   * `permission_denied`.
   */
  async resolve(input: string, options: ResolveOptions = {}): Promise<ResolvedPath> {
    const rel = this.normalize(input, options.style);
    if (rel === '.') return { rel, abs: this.root, exists: true };
    const lexical = posix.join(this.root, rel);
    let resolved: { real: string; exists: boolean };
    try {
      if (options.followLast === false) {
        const parent = await resolveReal(posix.dirname(lexical), 0);
        const real = posix.join(parent.real, posix.basename(lexical));
        resolved = { real, exists: parent.exists && (await lexists(real)) };
      } else {
        resolved = await resolveReal(lexical, 0);
      }
    } catch (error) {
      throw AgentError.from(error, rel);
    }
    if (relativeInside(this.root, resolved.real) === undefined) {
      throw new AgentError(
        'permission_denied',
        `path '${rel}' resolves outside the workspace (through a symbolic link)`,
      );
    }
    return { rel, abs: resolved.real, exists: resolved.exists };
  }

  /** The workspace-relative form of a real path inside the root (`.` for the root). */
  relativeOf(abs: string): string {
    return relativeInside(this.root, abs) ?? abs;
  }
}

/** `abs` relative to `root` if it is the root or below it, else undefined. */
function relativeInside(root: string, abs: string): string | undefined {
  if (abs === root) return '.';
  const prefix = root === '/' ? '/' : `${root}/`;
  return abs.startsWith(prefix) ? abs.slice(prefix.length) : undefined;
}

/**
 * The real path of an absolute, normalized path whose tail may not exist: the existing prefix
 * is resolved by the kernel, dangling symlinks by hand, the missing rest appended as named.
 */
async function resolveReal(path: string, hops: number): Promise<{ real: string; exists: boolean }> {
  try {
    return { real: await realpath(path), exists: true };
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT' || path === '/') throw error;
  }
  const parent = await resolveReal(posix.dirname(path), hops);
  const candidate = posix.join(parent.real, posix.basename(path));
  if (!parent.exists) return { real: candidate, exists: false };
  let isLink: boolean;
  try {
    isLink = (await lstat(candidate)).isSymbolicLink();
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return { real: candidate, exists: false };
    throw error;
  }
  if (!isLink) return { real: candidate, exists: false };
  // A dangling symlink: follow its target, which may itself be missing or another link.
  if (hops >= MAX_LINK_HOPS) throw Object.assign(new Error('too many symbolic links'), { code: 'ELOOP' });
  const target = posix.resolve(parent.real, await readlink(candidate));
  return resolveReal(target, hops + 1);
}

async function lexists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return false;
    throw error;
  }
}
