/**
 * Errors the client raises on its own side (configuration, Kubernetes, the claim, the route);
 * the router's answers have their own classes, which extend `SandbankError` too. Each carries a
 * stable `code` (for `switch`, logs and the CLI) and whether sending the same request again may
 * succeed (`retryable`).
 */

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

/** An option or environment variable is invalid or missing; the message names it. */
export class ConfigurationError extends SandbankError {
  constructor(message: string, code = 'configuration', options?: ErrorOptions) {
    super(message, code, false, options);
  }
}

/**
 * The router token would travel over plain `http://` to a host that is not loopback. Use
 * `https://`; for development only, `allowInsecure: true` or `SANDBANK_ALLOW_INSECURE=1`.
 */
export class InsecureTransport extends ConfigurationError {
  constructor(message: string) {
    super(message, 'insecure_transport');
  }
}

/**
 * The Kubernetes API refused or failed a call the client needed. `status` is the HTTP status,
 * undefined when the API server did not answer (then retrying may help).
 */
export class KubernetesError extends SandbankError {
  readonly status: number | undefined;

  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, 'kubernetes', status === undefined || status === 429 || status >= 500, options);
    this.status = status;
  }
}

/** The SandboxClaim reached a state it does not leave by itself: its Ready reason and message. */
export class ClaimFailed extends SandbankError {
  readonly claim: string;
  readonly reason: string;
  readonly detail: string;

  constructor(claim: string, reason: string, detail: string, code = 'claim_failed') {
    super(`SandboxClaim ${claim} failed: ${reason}${detail ? `: ${detail}` : ''}`, code);
    this.claim = claim;
    this.reason = reason;
    this.detail = detail;
  }
}

/** The claim names a SandboxTemplate that does not exist. */
export class TemplateNotFound extends ClaimFailed {
  constructor(claim: string, detail: string) {
    super(claim, 'TemplateNotFound', detail, 'template_not_found');
  }
}

/** The claim names a SandboxWarmPool that does not exist (or not of its template). */
export class WarmPoolNotFound extends ClaimFailed {
  constructor(claim: string, detail: string) {
    super(claim, 'WarmPoolNotFound', detail, 'warm_pool_not_found');
  }
}

/** The sandbox was not Ready within `timeoutMs`; `lastReason` is the claim's last Ready reason. */
export class SandboxTimeout extends SandbankError {
  readonly claim: string;
  readonly timeoutMs: number;
  readonly lastReason: string | undefined;

  constructor(claim: string, timeoutMs: number, lastReason: string | undefined) {
    const last = lastReason ? ` (last reason: ${lastReason})` : '';
    super(`SandboxClaim ${claim} was not Ready after ${timeoutMs} ms${last}`, 'sandbox_timeout', true);
    this.claim = claim;
    this.timeoutMs = timeoutMs;
    this.lastReason = lastReason;
  }
}

/** The Gateway had no address in its status in time. */
export class GatewayNotReady extends SandbankError {
  constructor(message: string) {
    super(message, 'gateway_not_ready', true);
  }
}

/** Dev mode: no router to port-forward to, no right to, or the forward failed (the message says what to do). */
export class PortForwardError extends SandbankError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'port_forward', false, options);
  }
}
