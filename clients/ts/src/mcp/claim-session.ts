/**
 * One MCP session's sandbox: claimed at the first tool call (a session that only lists tools costs
 * nothing), shared by the session's calls, and deleted when the session ends or after
 * `idleTimeoutMs` without a call. A call after an idle deletion claims a fresh sandbox and is told
 * so (the files of the old one are gone).
 */
import type { Sandbox } from '../sandbox.js';

/** An error's message, whatever was thrown. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type CreateSandbox = (signal: AbortSignal) => Promise<Sandbox>;

/** What a tool call gets: the sandbox, and whether it replaced one deleted for idleness. */
export interface SessionSandbox {
  readonly sandbox: Sandbox;
  /** The claim deleted for idleness before this one was made, if any (reported once). */
  readonly replaced: string | undefined;
}

export interface ClaimSessionOptions {
  readonly create: CreateSandbox;
  readonly idleTimeoutMs: number;
  /** Called once idle, after the claim (if any) is deleted: HTTP ends the session then, as its client may be gone. */
  readonly onIdle?: () => void;
  /** One line for the operator (stderr): what no tool call is there to report. */
  readonly log: (line: string) => void;
}

export class ClaimSession {
  private current: Promise<Sandbox> | undefined;
  /** Aborts a claim still being created when the session ends. */
  private readonly ending = new AbortController();
  private idleTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private closing: Promise<void> | undefined;
  private expired: string | undefined;
  /** An idle deletion under way: the session's end waits for it (the process may exit after). */
  private expiring: Promise<void> | undefined;

  constructor(private readonly options: ClaimSessionOptions) {
    // A session that never calls a tool idles out too (an HTTP session holds a slot).
    this.armIdle();
  }

  /** The claim's name, once one exists. */
  async claimName(): Promise<string | undefined> {
    return this.current?.then(
      (sb) => sb.claimName,
      () => undefined,
    );
  }

  /** Runs `use` with the session's sandbox (claiming it first if needed); the idle clock stops meanwhile. */
  async with<T>(use: (session: SessionSandbox) => Promise<T>): Promise<T> {
    if (this.closing) throw new Error('the MCP session has ended');
    this.inFlight++;
    clearTimeout(this.idleTimer);
    try {
      const sandbox = await this.sandbox();
      const replaced = this.expired;
      this.expired = undefined;
      return await use({ sandbox, replaced });
    } finally {
      this.inFlight--;
      this.armIdle();
    }
  }

  /** Deletes the claim (waiting for one being created). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.idleTimer);
      this.ending.abort(new Error('the MCP session ended'));
      await this.expiring;
      const sandbox = await this.current?.catch(() => undefined);
      this.current = undefined;
      await sandbox?.close();
    })();
    return this.closing;
  }

  private sandbox(): Promise<Sandbox> {
    if (!this.current) {
      const creating = this.options.create(this.ending.signal);
      this.current = creating;
      // A failed claim is not kept: the next call tries again.
      creating.catch(() => {
        if (this.current === creating) this.current = undefined;
      });
    }
    return this.current;
  }

  private armIdle(): void {
    if (this.inFlight > 0 || this.closing) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.expiring = this.expire().catch((error: unknown) =>
        this.options.log(`idle expiry failed: ${errorText(error)}`),
      );
    }, this.options.idleTimeoutMs);
    // The timer alone keeps no process alive: the transport does.
    this.idleTimer.unref();
  }

  private async expire(): Promise<void> {
    if (this.inFlight > 0 || this.closing) return;
    const held = this.current;
    this.current = undefined;
    const sandbox = await held?.catch(() => undefined);
    if (sandbox) {
      this.expired = sandbox.claimName;
      try {
        await sandbox.close();
        this.options.log(
          `claim ${sandbox.claimName} deleted after ${this.options.idleTimeoutMs / 1000} s idle`,
        );
      } catch (error) {
        this.options.log(`claim ${sandbox.claimName}: idle deletion failed: ${errorText(error)}`);
      }
    }
    this.options.onIdle?.();
  }
}
