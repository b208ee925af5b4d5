/** The base of every error the client throws (the lifecycle side owns this file). */
export class SandbankError extends Error {
  readonly code: string = 'unknown';
  readonly retryable: boolean = false;
}
