/**
 * What the agent's servers need, built once from the configuration. Tests and the router's
 * tests build the same with `createAgentDeps` and a temporary workspace.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';
import { childEnvironment } from './config.js';
import type { AgentConfig } from './config.js';
import { Workspace } from './fs/workspace.js';
import { BackgroundRegistry } from './process/background.js';
import { cgroupOomWatch } from './process/oom.js';
import { ProcessRunner } from './process/runner.js';
import { HealthState } from './services/health.js';

export interface AgentDeps {
  /** The confined workspace every path and cwd resolves in. */
  readonly workspace: Workspace;
  /** The one process table (Exec, Run and REST share its cap). */
  readonly runner: ProcessRunner;
  /** Background processes (ProcessService), spawned through `runner`. */
  readonly background: BackgroundRegistry;
  readonly health: HealthState;
  readonly logger: Logger;
  /** Run's and POST /execute's output cap per stream when the caller sets none. */
  readonly runMaxOutputBytes: number;
  /** SHA-256 of the bearer token calls must carry; undefined: no token. */
  readonly tokenSha256?: Buffer | undefined;
}

/** Builds the dependencies from `config`; the workspace root must exist. */
export async function createAgentDeps(
  config: AgentConfig,
  options: { logger?: Logger; env?: Readonly<Record<string, string | undefined>> } = {},
): Promise<AgentDeps> {
  const logger = options.logger ?? pino({ level: config.logLevel, base: { component: 'sandbank-agent' } });
  return {
    workspace: await Workspace.open(config.workspace),
    runner: new ProcessRunner(
      {
        maxProcesses: config.maxProcesses,
        defaultTimeoutMs: config.defaultTimeoutMs,
        killGraceMs: config.killGraceMs,
      },
      childEnvironment(options.env ?? process.env),
      cgroupOomWatch(),
    ),
    background: new BackgroundRegistry(config.background),
    health: new HealthState(),
    logger,
    runMaxOutputBytes: config.runMaxOutputBytes,
    tokenSha256: config.tokenSha256,
  };
}
