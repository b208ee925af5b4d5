/**
 * The Kubernetes Event a plan asks for about the object it reconciles — the one action every
 * reconciler shares, so every `apply` records it the same way. Pure.
 */
export interface EventAction {
  readonly type: 'event';
  readonly eventType: 'Normal' | 'Warning';
  /** CamelCase, from the reconciler's closed set (it is what `kubectl get events` groups by). */
  readonly reason: string;
  readonly message: string;
}

export function warningEvent(reason: string, message: string): EventAction {
  return { type: 'event', eventType: 'Warning', reason, message };
}
