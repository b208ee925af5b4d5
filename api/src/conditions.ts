/**
 * Status conditions in the Kubernetes convention (metav1.Condition): `Ready` is the summary,
 * reasons are CamelCase from closed sets, messages are for humans, there is no `phase`.
 * Pure: the caller passes the time.
 */
import { z } from 'zod';

export const ConditionStatus = z.enum(['True', 'False', 'Unknown']);
export type ConditionStatus = z.infer<typeof ConditionStatus>;

/** metav1.Condition's limit on `message`. */
export const CONDITION_MESSAGE_MAX_CHARS = 32768;

/** Same constraints as metav1.Condition, so the API server and zod agree. */
export const Condition = z.strictObject({
  type: z
    .string()
    .max(316)
    .regex(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
    ),
  status: ConditionStatus,
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.iso.datetime({ offset: true }),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  message: z.string().max(CONDITION_MESSAGE_MAX_CHARS),
});
export type Condition = z.infer<typeof Condition>;

/** A list of conditions keyed by type, as the API server merges it. */
export const Conditions = z
  .array(Condition)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

/** What a reconciler wants a condition to be; the transition time is filled in by `setCondition`. */
export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

export function findCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}

export function isConditionTrue(list: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(list, type)?.status === 'True';
}

/**
 * Sets `update` in `list` without mutating it. `lastTransitionTime` moves to `now` only when the
 * status flips (or the condition is new), like apimachinery's `SetStatusCondition`; `changed`
 * tells whether anything differs, so callers write status only when it does.
 */
export function setCondition(
  list: readonly Condition[] | undefined,
  update: ConditionUpdate,
  now: string,
): { list: Condition[]; changed: boolean } {
  const current = list ?? [];
  const existing = findCondition(current, update.type);
  if (!existing) {
    return { list: [...current, { ...update, lastTransitionTime: now }], changed: true };
  }
  const next: Condition = {
    ...update,
    lastTransitionTime: existing.status === update.status ? existing.lastTransitionTime : now,
  };
  const changed =
    existing.status !== next.status ||
    existing.reason !== next.reason ||
    existing.message !== next.message ||
    existing.observedGeneration !== next.observedGeneration ||
    existing.lastTransitionTime !== next.lastTransitionTime;
  return { list: current.map((c) => (c.type === update.type ? next : c)), changed };
}

/** Removes the condition of `type`; `changed` is false when there was none. */
export function removeCondition(
  list: readonly Condition[] | undefined,
  type: string,
): { list: Condition[]; changed: boolean } {
  const current = list ?? [];
  const next = current.filter((c) => c.type !== type);
  return { list: next, changed: next.length !== current.length };
}
