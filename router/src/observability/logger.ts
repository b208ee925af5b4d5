/** JSON logs (pino). One root logger per app; handlers log through child loggers. */
import { pino } from 'pino';
import type { Logger as PinoLogger, LevelWithSilent } from 'pino';

export type Logger = PinoLogger;

export function createLogger(level: LevelWithSilent = 'info'): Logger {
  return pino({
    level,
    base: { component: 'sandbank-router' },
    // Never log credentials, even when a request object lands in a log call by accident.
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'token'], censor: '[redacted]' },
  });
}
