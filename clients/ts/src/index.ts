export type { RouterConnection, SandboxTarget } from './connection.js';
