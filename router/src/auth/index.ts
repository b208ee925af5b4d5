export { bearerToken } from './principal.js';
export type { Authenticator, AuthTarget, Credentials, Principal } from './principal.js';
export { tokenAuthenticator } from './token.js';
export { noAuthenticator } from './none.js';
export { kubernetesAuthenticator } from './kubernetes.js';
export type { KubernetesAuthOptions } from './kubernetes.js';
export { preAuthLimited } from './pre-auth.js';
