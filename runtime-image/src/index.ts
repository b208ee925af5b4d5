/**
 * @sandbank/agent: the runtime agent's public surface. `main.ts` runs it; tests (the agent's
 * own, the router's) build it in-process with `createAgentDeps` + `buildAgentServer` /
 * `buildLegacyApp` and bind it to port 0.
 */
export { buildAgentServer } from './server.js';
export { buildLegacyApp } from './rest/app.js';
export { createAgentDeps } from './deps.js';
export type { AgentDeps } from './deps.js';
export { childEnvironment, ENV_PREFIX, loadConfig, tokenDigest } from './config.js';
export type { AgentConfig } from './config.js';
export { AGENT_ERROR_CODES, AgentError } from './errors.js';
export type { AgentErrorCode } from './errors.js';
export { HealthState } from './services/health.js';
export { Workspace } from './fs/workspace.js';
