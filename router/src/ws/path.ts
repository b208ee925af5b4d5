/** The WebSocket exec URL: `/v1/namespaces/{namespace}/sandboxes/{name}/exec`. */
import { RouterError } from '../errors.js';
import type { SandboxRef } from '../resolve/index.js';
import { v1TargetFromSegments } from '../http/validate.js';

const EXEC_PATH = /^\/v1\/namespaces\/([^/?#]+)\/sandboxes\/([^/?#]+)\/exec\/?(?:\?.*)?$/;

export function v1TargetFromPath(url: string): SandboxRef {
  const m = EXEC_PATH.exec(url);
  if (!m)
    throw new RouterError(
      'not_found',
      'WebSocket upgrades are served only at /v1/namespaces/{namespace}/sandboxes/{name}/exec',
    );
  return v1TargetFromSegments(m[1] ?? '', m[2] ?? '');
}
