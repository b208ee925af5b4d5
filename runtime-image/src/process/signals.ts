/** The signals a caller may send to a process group, and how exits by signal are reported. */
import { constants } from 'node:os';
import { AgentError } from '../errors.js';

/** What a caller may send (Exec's `signal` frame, SignalProcess): the proto's Signal enum, by name. */
export const CALLER_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGKILL', 'SIGTERM'] as const;
export type CallerSignal = (typeof CALLER_SIGNALS)[number];

/** The Linux number of a signal name, or undefined for a name Node does not know. */
export function signalNumber(name: string): number | undefined {
  return (constants.signals as Readonly<Record<string, number>>)[name];
}

/**
 * The caller's signal for a value of the proto's Signal enum, whose values are the Linux numbers
 * (exec.proto): so CALLER_SIGNALS is the one map, and this layer stays free of the wire types.
 * Anything else (SIGNAL_UNSPECIFIED, a value this agent does not know) is `invalid_argument`.
 */
export function callerSignalOf(value: number): CallerSignal {
  const name = CALLER_SIGNALS.find((candidate) => signalNumber(candidate) === value);
  if (name === undefined) {
    const known = CALLER_SIGNALS.map((candidate) => candidate.slice('SIG'.length)).join(', ');
    throw new AgentError('invalid_argument', `signal ${value} is not one of ${known}`);
  }
  return name;
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
