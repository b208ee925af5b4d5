// A converter for the webhook's own tests: the object with `apiVersion` set to the desired one
// and nothing else changed (exact for kinds whose versions share a schema), so the server and
// review tests do not depend on the real v1alpha1 <-> v1beta1 conversion.
import type { Converter } from '../../../src/webhook/review.js';

export const relabel: Converter = (obj, desiredApiVersion) => {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return { ok: false, message: 'not an object' };
  }
  return { ok: true, object: { ...(obj as Record<string, unknown>), apiVersion: desiredApiVersion } };
};
