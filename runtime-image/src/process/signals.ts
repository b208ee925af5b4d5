/** The signals a caller may send to a process group, and how exits by signal are reported. */
import { constants } from 'node:os';

/** What Exec's `signal` frame may carry: the proto's Signal enum, by name. */
export const CALLER_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGKILL', 'SIGTERM'] as const;
export type CallerSignal = (typeof CALLER_SIGNALS)[number];

/** The Linux number of a signal name, or undefined for a name Node does not know. */
export function signalNumber(name: string): number | undefined {
  return (constants.signals as Readonly<Record<string, number>>)[name];
}

/**
 * Sends `signal` to the whole process group `pgid` (the leader's pid: every process is started
 * as the leader of a new session). Returns false if the group no longer exists.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // ESRCH: every member has exited. EPERM cannot happen for our own children.
    return false;
  }
}
