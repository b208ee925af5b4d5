/**
 * A user's project outside the workspace, for the tests that run the client as a user would: a
 * temporary directory, the stack (one warm sandbox), and Node processes started there with only
 * what a user sets in the environment.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startClientStack, type ClientStack } from '@sandbank/testing';

/** Longest run of a user's script: a claim, a few calls, a delete, on a loaded machine. */
const SCRIPT_TIMEOUT_MS = 120_000;

export class UserProject {
  /** The project's directory (made at once, so a test can fill it while the stack starts). */
  readonly dir: string;
  private started: ClientStack | undefined;

  constructor(prefix: string) {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
  }

  /** Starts the stack the project's scripts talk to. */
  async start(): Promise<ClientStack> {
    this.started = await startClientStack({ poolReplicas: 1 });
    return this.started;
  }

  get stack(): ClientStack {
    if (!this.started) throw new Error('the user project was not started');
    return this.started;
  }

  /**
   * Runs `node ...args` in `cwd` (default the project's directory) with PATH, HOME, the stack's
   * kubeconfig (KUBECONFIG) and router token (SANDBANK_ROUTER_TOKEN), and `env`; resolves with
   * what it printed on stdout.
   */
  async node(
    args: readonly string[],
    env: Readonly<Record<string, string>>,
    cwd = this.dir,
  ): Promise<string> {
    const { stdout } = await promisify(execFile)(process.execPath, args, {
      cwd,
      timeout: SCRIPT_TIMEOUT_MS,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        KUBECONFIG: this.stack.kubeconfigPath,
        SANDBANK_ROUTER_TOKEN: this.stack.token,
        ...env,
      },
    });
    return stdout;
  }

  /** Removes the directory and stops the stack. */
  async close(): Promise<void> {
    rmSync(this.dir, { recursive: true, force: true });
    await this.started?.stop();
  }
}
