/**
 * SandboxWarmPool: the same fields in both versions; only `spec.replicas` differs in being
 * required in v1alpha1 and defaulted to 1 in v1beta1. A v1beta1 object stored before that default
 * existed (or written without it) reads as 1 through v1alpha1.
 */
import { partsOf, withParts, type JsonObject } from './annotations.js';

export function poolToBeta(obj: JsonObject): JsonObject {
  return obj;
}

export function poolToAlpha(obj: JsonObject): JsonObject {
  const { metadata, spec } = partsOf(obj);
  if (!spec || Object.hasOwn(spec, 'replicas')) return obj;
  return withParts(obj, metadata, { replicas: 1, ...spec });
}
