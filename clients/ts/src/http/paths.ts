/** The router's URL paths for one sandbox (processes, files) and one claim (ports, previews). */
import type { SandboxTarget } from '../connection.js';

const segment = (value: string): string => encodeURIComponent(value);

/** `/v1/namespaces/{ns}/sandboxes/{sandbox}` + `rest` (already encoded). */
export function sandboxPath(target: SandboxTarget, rest: string): string {
  return `/v1/namespaces/${segment(target.namespace)}/sandboxes/${segment(target.sandboxName)}${rest}`;
}

/** `/v1/namespaces/{ns}/sandboxclaims/{claim}` + `rest` (already encoded). */
export function claimPath(target: SandboxTarget, rest: string): string {
  return `/v1/namespaces/${segment(target.namespace)}/sandboxclaims/${segment(target.claimName)}${rest}`;
}

/** A sandbox file path as one URL segment (`/` encoded too), as the router decodes it. */
export function fileSegment(path: string): string {
  if (path === '') throw new TypeError('path: must not be empty');
  if (path.includes('\0')) throw new TypeError('path: must not contain NUL');
  // "." and ".." would be dot segments that URL resolution removes; encoded, they reach the agent as written.
  const encoded = encodeURIComponent(path);
  return /^\.+$/.test(path) ? encoded.replaceAll('.', '%2E') : encoded;
}
