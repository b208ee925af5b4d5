/**
 * The user's terminal lent to a remote one (`-t`): raw mode, so every key (Ctrl-C included) goes to
 * the sandbox, and its size, followed on SIGWINCH. `restore()` gives it back; the runner calls it
 * on every way out (and Node resets the terminal's mode at exit, should the process crash).
 */
import type { TerminalSize } from '../index.js';
import { UsageError } from './failures.js';
import type { CliIo } from './io.js';

/** When the output is not a terminal, the size a terminal usually starts with. */
const FALLBACK_SIZE: TerminalSize = { rows: 24, cols: 80 };

/** A UsageError unless stdin is a terminal (checked before anything is claimed). */
export function requireTerminal(io: CliIo): void {
  if (!io.stdin.isTTY || !io.stdin.setRawMode)
    throw new UsageError('-t: stdin is not a terminal (drop -t, or run from one)');
}

export class LocalTerminal {
  private stopFollowing: (() => void) | undefined;
  private restored = false;

  private constructor(private readonly io: CliIo) {}

  static open(io: CliIo): LocalTerminal {
    requireTerminal(io);
    io.stdin.setRawMode?.(true);
    return new LocalTerminal(io);
  }

  size(): TerminalSize {
    const { columns, rows } = this.io.stdout;
    return this.io.stdout.isTTY && columns && rows ? { rows, cols: columns } : FALLBACK_SIZE;
  }

  /** Calls `resize` with the new size whenever the terminal is resized. */
  follow(resize: (size: TerminalSize) => void): void {
    this.stopFollowing = this.io.onSignal('SIGWINCH', () => resize(this.size()));
  }

  restore(): void {
    if (this.restored) return;
    this.restored = true;
    this.stopFollowing?.();
    this.io.stdin.setRawMode?.(false);
  }
}
