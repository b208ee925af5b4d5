/**
 * What the router does with upstream's `X-Sandbox-Pod-IP`: counts whether it names the pod the
 * router resolved from `X-Sandbox-ID` through its own caches, and nothing else. The request goes
 * to the resolved pod either way: a stale hint (the SDK caches it until a 5xx) is harmless, and a
 * forged one (127.0.0.1, another tenant's pod) reaches nothing it names.
 */
import type { RouterContext } from '../../context.js';
import type { Endpoint } from '../../resolve/index.js';
import type { PodIpHint } from '../validate.js';

export function comparePodIpHint(ctx: RouterContext, hint: PodIpHint, endpoint: Endpoint): void {
  if (hint.kind === 'absent') return;
  if (hint.kind === 'invalid') {
    ctx.metrics.podIpHints.inc({ result: 'invalid' });
    return;
  }
  // Both sides canonical: the hint when it was parsed, the pod's IP when the pod was cached.
  const result =
    endpoint.canonicalIp !== undefined && endpoint.canonicalIp === hint.ip ? 'match' : 'mismatch';
  ctx.metrics.podIpHints.inc({ result });
  if (result === 'mismatch') {
    ctx.log.debug(
      { sandbox: `${endpoint.namespace}/${endpoint.sandbox}`, hint: hint.ip, pod: endpoint.ip },
      'X-Sandbox-Pod-IP names another address than the resolved pod; routed to the resolved pod',
    );
  }
}
