/**
 * Best-effort detection of the kernel's OOM killer: the count of OOM kills in the agent's
 * memory cgroup. The runner remembers the last count it saw and reads it again only when a
 * process dies of a SIGKILL it did not send (reading it around every process would cost each
 * Exec two file reads): if the count went up, the process was (very likely) OOM-killed. Where no counter is readable (gVisor exposes no
 * cgroup files; cgroup v1 kernels before 4.13) the answer is "not known", reported as false.
 * Another process of the same cgroup OOM-killed at the same time can be misattributed; the
 * flag is a hint for messages, never a basis for decisions.
 */
import { readFile } from 'node:fs/promises';

/** cgroup v2, then v1 (`oom_kill` appears in memory.oom_control since Linux 4.13). */
const COUNTER_FILES = ['/sys/fs/cgroup/memory.events', '/sys/fs/cgroup/memory/memory.oom_control'];

/** Answers whether the OOM killer struck since the last question. */
export interface OomWatch {
  killedSinceLastCheck(): Promise<boolean>;
}

/** Watches the first readable counter of `files`; never true where none is readable. */
export function cgroupOomWatch(files: readonly string[] = COUNTER_FILES): OomWatch {
  const read = async (): Promise<number | undefined> => {
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
  let last = read();
  return {
    async killedSinceLastCheck() {
      const before = await last;
      const now = read();
      last = now;
      const after = await now;
      return before !== undefined && after !== undefined && after > before;
    },
  };
}
