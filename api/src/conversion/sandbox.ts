/**
 * Sandbox: v1alpha1 `spec.replicas` (0|1) ↔ v1beta1 `spec.operatingMode` (Suspended|Running).
 * A bijection, absence included (the API server defaults both to running), so no annotation.
 * Everything else, status included, is the same in both versions.
 */
import { partsOf, withParts, type JsonObject } from './annotations.js';

export function sandboxToBeta(obj: JsonObject, warnings: string[]): JsonObject {
  const { metadata, spec } = partsOf(obj);
  if (!spec || !Object.hasOwn(spec, 'replicas')) return obj;
  const { replicas, ...rest } = spec;
  if (replicas !== 0 && replicas !== 1) {
    warnings.push(`spec.replicas ${JSON.stringify(replicas)} is neither 0 nor 1; converted as Running`);
  }
  return withParts(obj, metadata, { ...rest, operatingMode: replicas === 0 ? 'Suspended' : 'Running' });
}

export function sandboxToAlpha(obj: JsonObject, warnings: string[]): JsonObject {
  const { metadata, spec } = partsOf(obj);
  if (!spec || !Object.hasOwn(spec, 'operatingMode')) return obj;
  const { operatingMode, ...rest } = spec;
  if (operatingMode !== 'Running' && operatingMode !== 'Suspended') {
    warnings.push(
      `spec.operatingMode ${JSON.stringify(operatingMode)} is neither Running nor Suspended; converted as replicas 1`,
    );
  }
  return withParts(obj, metadata, { ...rest, replicas: operatingMode === 'Suspended' ? 0 : 1 });
}
