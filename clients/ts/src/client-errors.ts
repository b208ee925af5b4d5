/** The base of every error the client throws (the lifecycle side owns this file). */
export class SandbankError extends Error {
  /** A stable, snake_case name of the failure. */
  readonly code: string;
  /** Whether the same call, made again unchanged, may succeed. */
  readonly retryable: boolean;

  constructor(message: string, code: string, retryable = false, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.retryable = retryable;
  }
}
