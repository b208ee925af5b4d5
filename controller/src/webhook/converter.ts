/**
 * The conversion function the webhook serves (`main.ts` and `standalone.ts` both take it from
 * here, so the one line below is the only thing to change when the API gains a second version).
 *
 * Today every CRD serves a single version, so the API server never calls the webhook for them;
 * this converter only relabels `apiVersion`, which is exact while both versions share a schema.
 */
import type { Converter } from './review.js';

/** Replaced by @sandbank/api convertObject at the v1beta1 switch. */
export const convert: Converter = relabel;

/** The object with `apiVersion` set to the desired one and nothing else changed. */
export function relabel(obj: unknown, desiredApiVersion: string): ReturnType<Converter> {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return { ok: false, message: 'not an object' };
  }
  return { ok: true, object: { ...(obj as Record<string, unknown>), apiVersion: desiredApiVersion } };
}
