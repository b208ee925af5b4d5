/**
 * Best-effort detection of the kernel's OOM killer: the count of OOM kills in the agent's
 * memory cgroup, read before and after a process runs. A process that died of SIGKILL while the
 * count went up was (very likely) OOM-killed. Where no counter is readable (gVisor exposes no
 * cgroup files; cgroup v1 kernels before 4.13) the answer is "not known", reported as false.
 * Another process of the same cgroup OOM-killed at the same time can be misattributed; the
 * flag is a hint for messages, never a basis for decisions.
 */
import { readFile } from 'node:fs/promises';

/** cgroup v2, then v1 (`oom_kill` appears in memory.oom_control since Linux 4.13). */
const COUNTER_FILES = ['/sys/fs/cgroup/memory.events', '/sys/fs/cgroup/memory/memory.oom_control'];

export type OomCounter = () => Promise<number | undefined>;

/** Reads the first readable counter of `files`; undefined if none is. */
export function cgroupOomCounter(files: readonly string[] = COUNTER_FILES): OomCounter {
  return async () => {
    for (const file of files) {
      try {
        const match = /^oom_kill (\d+)$/m.exec(await readFile(file, 'utf8'));
        if (match?.[1] !== undefined) return Number(match[1]);
      } catch {
        // Not this cgroup version, or not readable here.
      }
    }
    return undefined;
  };
}
