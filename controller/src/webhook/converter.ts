/**
 * The conversion function the webhook serves (`main.ts` and `standalone.ts` both take it from
 * here): @sandbank/api's pure v1alpha1 <-> v1beta1 conversion.
 */
import { convertObject } from '@sandbank/api';
import type { Converter } from './review.js';

export const convert: Converter = convertObject;

/**
 * The object with `apiVersion` set to the desired one and nothing else changed: exact for kinds
 * whose versions share a schema (the webhook's own tests use it).
 */
export function relabel(obj: unknown, desiredApiVersion: string): ReturnType<Converter> {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return { ok: false, message: 'not an object' };
  }
  return { ok: true, object: { ...(obj as Record<string, unknown>), apiVersion: desiredApiVersion } };
}
