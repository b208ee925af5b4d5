/**
 * Descriptors the agent inherited from whatever started it (a container runtime, a shim, a
 * careless parent), beyond stdin, stdout and stderr. libuv's spawn passes on every descriptor
 * that is not close-on-exec, so without this step each process the agent runs for a caller
 * (hostile code, DESIGN.md §11) would hold them too: a socket to the node, a log file, a pipe.
 *
 * Node has no fcntl, so the agent cannot set FD_CLOEXEC on a descriptor it did not open; it
 * closes them instead, at start, before it opens anything of its own. For every child that is
 * what close-on-exec would give; the agent itself uses none of them (it talks to the world only
 * through the sockets it listens on). Which descriptors: those the kernel reports without
 * O_CLOEXEC in /proc/self/fdinfo (Linux and gVisor both report the descriptor flag there).
 * Everything Node, libuv and V8 open is close-on-exec, and so is anything this scan opens
 * itself, so none of them is touched.
 */
import { closeSync, readdirSync, readFileSync } from 'node:fs';
import { errnoOf } from '../errors.js';

/** O_CLOEXEC as /proc/<pid>/fdinfo's octal `flags` shows it (x86-64 and arm64). */
const O_CLOEXEC = 0o2000000;

export interface InheritedDescriptors {
  /** Descriptors closed because a child would have inherited them. */
  readonly closed: readonly number[];
  /** Descriptors whose flags could not be read: left open (closing one of Node's would be fatal). */
  readonly unknown: readonly number[];
}

/**
 * Closes every descriptor above 2 that is not close-on-exec. Synchronous and meant for the
 * first lines of the agent, when nothing else opens descriptors. Throws if /proc/self/fd cannot
 * be listed: the agent then cannot promise anything about what its children inherit.
 */
export function closeInheritedDescriptors(): InheritedDescriptors {
  const closed: number[] = [];
  const unknown: number[] = [];
  const fds = readdirSync('/proc/self/fd')
    .map(Number)
    .filter((fd) => Number.isInteger(fd) && fd > 2);
  for (const fd of fds) {
    const flags = flagsOf(fd);
    if (flags === 'gone') continue; // the listing's own directory, closed after the read
    if (flags === undefined) {
      unknown.push(fd);
      continue;
    }
    if ((flags & O_CLOEXEC) !== 0) continue;
    try {
      closeSync(fd);
      closed.push(fd);
    } catch (error) {
      if (errnoOf(error) !== 'EBADF') throw error;
    }
  }
  return { closed, unknown };
}

/** The `flags` of descriptor `fd`, 'gone' if it no longer exists, undefined if unreadable. */
function flagsOf(fd: number): number | 'gone' | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  } catch (error) {
    return errnoOf(error) === 'ENOENT' ? 'gone' : undefined;
  }
  const octal = /^flags:\s*([0-7]+)\s*$/m.exec(text)?.[1];
  return octal === undefined ? undefined : parseInt(octal, 8);
}
