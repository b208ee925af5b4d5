/**
 * SandboxTemplate: v1beta1 adds `spec.volumeClaimTemplatesPolicy`. Through v1alpha1 it travels in
 * the `conversion.sandbank.dev/v1beta1` annotation, only when it is not the default (Disallowed),
 * so templates that never use it carry no annotation.
 */
import {
  ConversionAnnotations,
  partsOf,
  readJsonAnnotation,
  withJsonAnnotation,
  withParts,
  type JsonObject,
} from './annotations.js';

const FIELD = 'volumeClaimTemplatesPolicy';
const POLICIES: readonly unknown[] = ['Disallowed', 'Allowed', 'Overrides'];
const KEY = ConversionAnnotations.v1beta1Fields;

export function templateToBeta(obj: JsonObject, warnings: string[]): JsonObject {
  const { metadata, spec } = partsOf(obj);
  const carried = readJsonAnnotation(metadata, KEY);
  if (carried.warning) warnings.push(carried.warning);
  const nextMetadata = withJsonAnnotation(metadata, KEY, undefined);
  if (nextMetadata === metadata) return obj;
  const policy = carried.value?.[FIELD];
  for (const key of Object.keys(carried.value ?? {})) {
    if (key !== FIELD) warnings.push(`annotation ${KEY}: unknown field ${key} dropped`);
  }
  if (policy === undefined || !spec) return withParts(obj, nextMetadata, spec);
  if (!POLICIES.includes(policy)) {
    warnings.push(`annotation ${KEY}: ${FIELD} ${JSON.stringify(policy)} is not a policy; dropped`);
    return withParts(obj, nextMetadata, spec);
  }
  return withParts(obj, nextMetadata, { ...spec, [FIELD]: policy });
}

export function templateToAlpha(obj: JsonObject, warnings: string[]): JsonObject {
  const { metadata, spec } = partsOf(obj);
  // An annotation already on a v1beta1 object is nobody's data: replaced, so it cannot come back
  // as a field on the way in.
  let nextMetadata = withJsonAnnotation(metadata, KEY, undefined);
  if (nextMetadata !== metadata) warnings.push(`annotation ${KEY} on a v1beta1 object replaced`);
  if (!spec || !Object.hasOwn(spec, FIELD))
    return nextMetadata === metadata ? obj : withParts(obj, nextMetadata, spec);
  const { [FIELD]: policy, ...rest } = spec;
  if (policy !== 'Disallowed') nextMetadata = withJsonAnnotation(nextMetadata, KEY, { [FIELD]: policy });
  return withParts(obj, nextMetadata, rest);
}
