/**
 * The logging this package does, as an interface: a pino logger (what the controller and the
 * router pass) satisfies it as it is, and tests can record lines without pino.
 */
export interface Logger {
  child(bindings: Record<string, unknown>): Logger;
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
