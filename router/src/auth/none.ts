/** `none` mode: everyone may use every sandbox. Development only; main.ts logs it loudly. */
import type { Authenticator } from './principal.js';
import { ALL_NAMESPACES } from './scope.js';

export function noAuthenticator(): Authenticator {
  return {
    mode: 'none',
    authorize(credentials) {
      // Without credentials the address is all that tells callers apart (the IP, never the port).
      return Promise.resolve({
        mode: 'none',
        name: 'anonymous',
        callerKey: `addr:${credentials.remoteAddress}`,
        namespaces: ALL_NAMESPACES,
      });
    },
    recognizes: () => true,
  };
}
