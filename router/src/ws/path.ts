/** The WebSocket exec URL: `/v1/namespaces/{namespace}/sandboxes/{name}/exec`. */
import { RouterError } from '../errors.js';
import type { SandboxRef } from '../resolve/index.js';
import { v1Target } from '../http/validate.js';

const EXEC_PATH = /^\/v1\/namespaces\/([^/?#]+)\/sandboxes\/([^/?#]+)\/exec\/?(?:\?.*)?$/;

export function v1TargetFromPath(url: string): SandboxRef {
  const m = EXEC_PATH.exec(url);
  if (!m)
    throw new RouterError(
      'not_found',
      'WebSocket upgrades are served only at /v1/namespaces/{namespace}/sandboxes/{name}/exec',
    );
  let namespace: string;
  let name: string;
  try {
    namespace = decodeURIComponent(m[1] ?? '');
    name = decodeURIComponent(m[2] ?? '');
  } catch {
    throw new RouterError('invalid_argument', 'path: not a valid percent-encoded path');
  }
  return v1Target({ namespace, name });
}
