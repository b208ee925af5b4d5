/**
 * Whether the kernel's OOM killer ended a process the agent ran (ExitStatus.oom_killed). The
 * evidence is the OOM-kill counter of the agent's memory cgroup, read just before the process
 * is spawned and again after it died of a SIGKILL the agent did not send: a kill counted inside
 * that window, not already blamed on another process, is blamed on this one. Everything the
 * decision uses comes from the kernel (the counter file is read-only and maintained by the
 * kernel, the wait status comes from wait()), never from what the sandboxed code can write.
 *
 * What is knowable depends on the runtime (see docs/exit-metadata.md):
 *  - runc and other kernel cgroups: cgroup v2 `memory.events` or v1 `memory.oom_control`
 *    (Linux ≥ 4.13) count OOM kills; the flag can be true.
 *  - gVisor: its cgroupfs has no OOM counter (v1) or a constant all-zero stub (v2), and an OOM
 *    is the host's OOM killer ending the whole sandbox, agent included, so no exit status is
 *    ever sent for it: the flag stays false.
 * False means "not known to be OOM-killed". Where several processes share the cgroup, a kill of
 * one can still be blamed on another SIGKILLed in the same window, but never more processes are
 * flagged than the kernel counted kills.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** One cgroup file that counts OOM kills, found at startup. */
export interface OomCounter {
  readonly file: string;
  /** `memory.events` (cgroup v2) or `memory.oom_control` (cgroup v1). */
  readonly kind: 'cgroup2' | 'cgroup1';
}

/** Both files carry the count on a line `oom_kill <n>`. */
const OomKillLine = z
  .string()
  .regex(/^\d{1,15}$/, 'oom_kill: expected a decimal count')
  .transform(Number);

/** The `oom_kill` count of a memory.events or memory.oom_control text; undefined without one. */
export function parseOomKillCount(text: string): number | undefined {
  const match = /^oom_kill (\S+)$/m.exec(text);
  if (match?.[1] === undefined) return undefined;
  const count = OomKillLine.safeParse(match[1]);
  return count.success ? count.data : undefined;
}

/** A cgroup path from /proc/self/cgroup: absolute, no `..`; anything else is ignored. */
const CgroupPath = z
  .string()
  .regex(/^\/[^\0]*$/, 'cgroup path: expected an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'cgroup path: must not contain ..');

/** The agent's own cgroup paths per hierarchy (`''` for v2, `memory` for v1) from /proc/self/cgroup. */
export function ownCgroupPaths(procSelfCgroup: string): { v2?: string; memory?: string } {
  const out: { v2?: string; memory?: string } = {};
  for (const line of procSelfCgroup.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const path = CgroupPath.safeParse(match[2]);
    if (!path.success) continue;
    if (match[1] === '') out.v2 = path.data;
    else if (match[1]?.split(',').includes('memory')) out.memory = path.data;
  }
  return out;
}

/**
 * The counter of the agent's memory cgroup, or undefined where none is readable (gVisor, old
 * kernels). Candidates in order: v2 at the agent's own cgroup (no cgroup namespace, or gVisor's
 * v2 mode), v2 at the mount root (a private cgroup namespace), then the same for v1.
 */
export function findOomCounter(
  options: { root?: string; procSelfCgroup?: string | undefined } = {},
): OomCounter | undefined {
  const root = options.root ?? CGROUP_ROOT;
  let self = options.procSelfCgroup;
  if (self === undefined) {
    try {
      self = readFileSync('/proc/self/cgroup', 'utf8');
    } catch {
      self = '';
    }
  }
  const own = ownCgroupPaths(self);
  const candidates: OomCounter[] = [];
  if (own.v2 !== undefined && own.v2 !== '/')
    candidates.push({ file: join(root, own.v2, 'memory.events'), kind: 'cgroup2' });
  candidates.push({ file: join(root, 'memory.events'), kind: 'cgroup2' });
  if (own.memory !== undefined && own.memory !== '/')
    candidates.push({ file: join(root, 'memory', own.memory, 'memory.oom_control'), kind: 'cgroup1' });
  candidates.push({ file: join(root, 'memory', 'memory.oom_control'), kind: 'cgroup1' });
  return candidates.find((c) => readCountSync(c.file) !== undefined);
}

function readCountSync(file: string): number | undefined {
  try {
    return parseOomKillCount(readFileSync(file, 'utf8'));
  } catch {
    return undefined; // not this cgroup version, or not readable here
  }
}

/** Everything the decision looks at for one process. */
export interface OomEvidence {
  /** The signal that ended the process, from its wait status; null if it exited. */
  readonly signal: string | null;
  /** The agent sent the kill itself (timeout, caller gone, shutdown). */
  readonly killedByAgent: boolean;
  /** The counter just before the spawn; undefined if unreadable. */
  readonly before: number | undefined;
  /** The counter after the death; undefined if unreadable. */
  readonly after: number | undefined;
  /** Counter value up to which kills were already blamed on other processes. */
  readonly blamedUpTo: number;
}

export interface OomVerdict {
  readonly oomKilled: boolean;
  /** The new `blamedUpTo`: one more kill is spent when the verdict is true. */
  readonly blamedUpTo: number;
}

/**
 * The decision, pure: true only for a SIGKILL the agent did not send with a kill counted since
 * the spawn that no other process was blamed for. The OOM killer always uses SIGKILL; any other
 * end, an unreadable counter or a counter that went backwards (not the same cgroup) is false.
 */
export function judgeOomKill(e: OomEvidence): OomVerdict {
  const no = { oomKilled: false, blamedUpTo: e.blamedUpTo };
  if (e.signal !== 'SIGKILL' || e.killedByAgent) return no;
  if (e.before === undefined || e.after === undefined || e.after < e.before) return no;
  const from = Math.max(e.before, e.blamedUpTo);
  if (e.after <= from) return no;
  return { oomKilled: true, blamedUpTo: from + 1 };
}

/** How one process ended, as the OOM verdict needs it. */
export interface OomExit {
  readonly signal: string | null;
  readonly killedByAgent: boolean;
}

/** One process's window: opened just before its spawn, closed once it is gone. */
export interface OomWindow {
  /** Resolves to the verdict; never rejects (an unreadable counter is false). */
  close(exit: OomExit): Promise<boolean>;
}

/** Opens a window per process; shared by every process of the agent (one cgroup). */
export interface OomWatch {
  open(): OomWindow;
}

const notKnown: OomWindow = { close: () => Promise.resolve(false) };

/**
 * Watches `counter` (default: the one `findOomCounter` finds); never true without one. The
 * baseline is read synchronously before the spawn, so a kill that happens after the process
 * exists is always inside its window (a cgroup file read costs microseconds).
 */
export function cgroupOomWatch(counter: OomCounter | undefined = findOomCounter()): OomWatch {
  if (counter === undefined) return { open: () => notKnown };
  let blamedUpTo = 0;
  return {
    open() {
      const before = readCountSync(counter.file);
      if (before === undefined) return notKnown;
      return {
        async close(exit) {
          // Only an unexplained SIGKILL can be the OOM killer: other ends skip the read.
          if (exit.signal !== 'SIGKILL' || exit.killedByAgent) return false;
          let after: number | undefined;
          try {
            after = parseOomKillCount(await readFile(counter.file, 'utf8'));
          } catch {
            after = undefined;
          }
          const verdict = judgeOomKill({ ...exit, before, after, blamedUpTo });
          blamedUpTo = verdict.blamedUpTo;
          return verdict.oomKilled;
        },
      };
    },
  };
}
