/** What every command runner gets and returns, and the one way they open an existing claim. */
import { Sandbox } from '../sandbox.js';
import type { ConnectOptions } from '../sandbox.js';
import type { Interrupts } from './interrupts.js';
import type { CliIo } from './io.js';
import type { Connection } from './parse.js';

export interface Context {
  readonly io: CliIo;
  readonly interrupts: Interrupts;
  /** The time, for ages in listings. */
  readonly now: () => number;
}

/** How a command ended: its exit code, its `--json` document, and what it prints for people. */
export interface Outcome {
  readonly exit: number;
  readonly json: unknown;
  /** Printed on stdout without `--json`; undefined when the command printed as it went. */
  readonly text: string | undefined;
}

export function connectOptions(connection: Connection, signal: AbortSignal): ConnectOptions {
  return { ...connection, signal };
}

/** Attaches to `claim` for `use`, and detaches after it (the claim stays). */
export async function withClaim<T>(
  connection: Connection,
  claim: string,
  context: Context,
  use: (sandbox: Sandbox) => Promise<T>,
): Promise<T> {
  const sandbox = await Sandbox.attach(claim, connectOptions(connection, context.interrupts.signal));
  try {
    return await use(sandbox);
  } finally {
    await sandbox.detach();
  }
}
