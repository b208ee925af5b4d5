/**
 * The annotations that carry a spec field through the version that lacks it (plan D3), and the
 * JSON plumbing around them. Pure; never throws: a value that is not what we wrote is reported as
 * a warning and treated as absent.
 */

export const ConversionAnnotations = {
  /** On v1beta1 objects: JSON of the v1alpha1-only spec fields (a claim's template and warmpool). */
  v1alpha1Fields: 'conversion.sandbank.dev/v1alpha1',
  /** On v1alpha1 objects: JSON of the v1beta1-only spec fields. */
  v1beta1Fields: 'conversion.sandbank.dev/v1beta1',
  /**
   * Upstream agent-sandbox v0.5's copy of a whole v1alpha1 claim on its v1beta1 objects. Read
   * (never written or removed) so clusters moved from upstream v0.5 keep their claims' templates.
   */
  upstreamV05ClaimState: 'api.agents.x-k8s.io/v1alpha1-sandboxclaim-state',
} as const;

export type JsonObject = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The object at `key` of `obj`, or undefined when absent or not an object. */
export function recordAt(obj: JsonObject | undefined, key: string): JsonObject | undefined {
  const value = obj?.[key];
  return isRecord(value) ? value : undefined;
}

function annotationsOf(metadata: JsonObject | undefined): JsonObject | undefined {
  return recordAt(metadata, 'annotations');
}

/** Whether `metadata.annotations` has `key` (whatever its value). */
export function hasAnnotation(metadata: JsonObject | undefined, key: string): boolean {
  const annotations = annotationsOf(metadata);
  return annotations !== undefined && Object.hasOwn(annotations, key);
}

/**
 * The JSON object in annotation `key`: `value` when it parses to an object, `warning` when the
 * annotation exists but does not (the caller goes on as if it were absent).
 */
export function readJsonAnnotation(
  metadata: JsonObject | undefined,
  key: string,
): { value?: JsonObject; warning?: string } {
  const annotations = annotationsOf(metadata);
  if (!annotations || !Object.hasOwn(annotations, key)) return {};
  const raw = annotations[key];
  if (typeof raw !== 'string') return { warning: `annotation ${key} is not a string; ignored` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { warning: `annotation ${key} is not valid JSON; ignored` };
  }
  if (!isRecord(parsed)) return { warning: `annotation ${key} is not a JSON object; ignored` };
  return { value: parsed };
}

/**
 * `metadata` with annotation `key` set to the JSON of `payload`, or removed when `payload` is
 * undefined. Only the annotations map is rebuilt; every other metadata field is the same value
 * (ownerReferences included). An annotations map left empty is dropped, as the API server drops it.
 */
export function withJsonAnnotation(
  metadata: JsonObject | undefined,
  key: string,
  payload: JsonObject | undefined,
): JsonObject | undefined {
  const current = annotationsOf(metadata);
  if (payload === undefined && (!current || !Object.hasOwn(current, key))) return metadata;
  const annotations: JsonObject = Object.fromEntries(
    Object.entries(current ?? {}).filter(([k]) => k !== key),
  );
  if (payload !== undefined) annotations[key] = JSON.stringify(payload);
  const next: JsonObject = { ...metadata };
  if (Object.keys(annotations).length > 0) next.annotations = annotations;
  else delete next.annotations;
  return next;
}

/**
 * A copy of `obj` with its metadata and spec replaced (each removed when undefined); apiVersion,
 * kind, status and unknown top-level fields are the same values.
 */
export function withParts(
  obj: JsonObject,
  metadata: JsonObject | undefined,
  spec: JsonObject | undefined,
): JsonObject {
  const out: JsonObject = { ...obj };
  if (metadata === undefined) delete out.metadata;
  else out.metadata = metadata;
  if (spec === undefined) delete out.spec;
  else out.spec = spec;
  return out;
}

/** The parts a converter works on: metadata and spec when they are objects. */
export function partsOf(obj: JsonObject): { metadata: JsonObject | undefined; spec: JsonObject | undefined } {
  return { metadata: recordAt(obj, 'metadata'), spec: recordAt(obj, 'spec') };
}
