/** @sandbank/router: the app factory, its configuration, auth modes, resolution and error codes. */
export { buildRouterApp } from './app.js';
export type { RouterApp, RouterDeps } from './app.js';
export { loadConfig, ConfigError, DEFAULT_LIMITS, DEFAULT_AGENT_PORTS } from './config.js';
export { AuthMode } from './auth/mode.js';
export type { RouterConfig, AuthConfig, Limits, AgentPorts } from './config.js';
export { RouterError, ErrorCodes, ERROR_CODE_NAMES } from './errors.js';
export type { ErrorCode } from './errors.js';
export {
  tokenAuthenticator,
  noAuthenticator,
  kubernetesAuthenticator,
  bearerToken,
  ALL_NAMESPACES,
  namespaceScope,
} from './auth/index.js';
export type {
  Authenticator,
  Principal,
  Credentials,
  AuthTarget,
  NamespaceScope,
  TokenGrant,
} from './auth/index.js';
export {
  createClusterLookup,
  createAccessReviewer,
  loadKubeConfig,
  resolveSandbox,
  oomKilledAfter,
  PodChanges,
  AGENT_PROTOCOL_LABEL,
  EXPOSE_ANY_PORT_ANNOTATION,
  ROUTABLE_POD_SELECTOR,
} from './resolve/index.js';
export type {
  SandboxLookup,
  Endpoint,
  Resolution,
  SandboxRef,
  PodRef,
  AccessReviewer,
  UserInfo,
  CacheReader,
} from './resolve/index.js';
export { createLogger } from './observability/logger.js';
export { createMetrics } from './observability/metrics.js';
export type { RouterMetrics } from './observability/metrics.js';
export { installPropagator, W3CTraceContext } from './observability/tracing.js';
export { EXEC_SUBPROTOCOL, STDOUT_CHANNEL, STDERR_CHANNEL } from './ws/frames.js';
export { openApiDocument } from './http/openapi.js';
export { signPreview, verifyPreview } from './ports/preview-token.js';
export type { PreviewGrant, PreviewKeys } from './ports/preview-token.js';
