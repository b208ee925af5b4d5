export type { RouterConnection, SandboxTarget } from './connection.js';
export { Sandbox } from './sandbox.js';
export type { ClaimState, ConnectOptions, CreateOptions, ListOptions } from './sandbox.js';
export type { Mode, Route, RouteOptions } from './route/index.js';
export {
  ClaimFailed,
  ConfigurationError,
  GatewayNotReady,
  InsecureTransport,
  KubernetesError,
  PortForwardError,
  SandboxTimeout,
  SandbankError,
  TemplateNotFound,
  WarmPoolNotFound,
} from './client-errors.js';
export * from './data-plane.js';
