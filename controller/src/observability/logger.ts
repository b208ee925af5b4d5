/**
 * JSON logs (pino): one object per line on stdout, level as a string, ISO timestamps. Errors go
 * under `err` (pino serializes message, type and stack). The runtime hands each reconcile pass a
 * child logger bound to controller, key and reconcileId; reconcilers add nothing but their
 * milestones.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;
export type LogLevel = pino.LevelWithSilent;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export interface LoggerOptions {
  readonly level: LogLevel;
  /** The `name` field of every line; default `sandbank-controller`. */
  readonly name?: string;
  /** Defaults to stdout (synchronous writes: a crash never loses its last lines). */
  readonly destination?: pino.DestinationStream;
  /** Fields on every line, e.g. `{ identity }`. */
  readonly bindings?: Readonly<Record<string, unknown>>;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: opts.name ?? 'sandbank-controller',
      level: opts.level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      base: { pid: process.pid, ...opts.bindings },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that writes nothing (tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
