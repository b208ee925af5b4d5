/**
 * Turns definitions from the Kubernetes OpenAPI v3 documents into self-contained structural
 * schemas that a CRD can embed: references inlined, int-or-string types in CRD form, Go zero-value
 * defaults and patch-strategy hints dropped. Pure.
 */
import type { Definitions, JsonSchema } from './openapi.js';

const REF_PREFIX = '#/components/schemas/';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

/** Keys carried over from the Kubernetes schema; everything else (patch hints, GVK tags) is dropped. */
const KEPT_KEYS = new Set([
  'type',
  'format',
  'enum',
  'required',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'pattern',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
]);

/**
 * Go zero values appear as `default` all over the published documents ("" for every string,
 * 0, false, {}). As CRD defaults they would fill in fields that are meant to be absent (and turn
 * a missing required container name into ""), so only meaningful defaults are kept — the ones
 * list-map keys rely on, such as a port's protocol "TCP".
 */
function isZeroValue(value: unknown): boolean {
  return (
    value === '' ||
    value === 0 ||
    value === false ||
    value === null ||
    (typeof value === 'object' && Object.keys(value).length === 0)
  );
}

function refName(ref: string): string {
  if (!ref.startsWith(REF_PREFIX)) throw new Error(`unsupported $ref ${ref}`);
  return ref.slice(REF_PREFIX.length);
}

/** Descriptions are dropped from embedded Kubernetes types: they would make each CRD several
 * hundred KiB (too big for client-side `kubectl apply`), and `kubectl explain pod.spec` has them. */
export function inlineDefinition(name: string, definitions: Definitions): JsonSchema {
  return convert({ $ref: `${REF_PREFIX}${name}` }, definitions, []);
}

function convert(schema: JsonSchema, definitions: Definitions, stack: readonly string[]): JsonSchema {
  const single = schema.allOf?.length === 1 ? schema.allOf[0] : undefined;
  const target = schema.$ref ?? single?.$ref;
  if (target) {
    const name = refName(target);
    const resolved = resolveNamed(name, definitions, stack);
    return withDefault(resolved, schema.default);
  }

  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (KEPT_KEYS.has(key)) out[key] = value;
  }
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([key, value]) => [key, convert(value, definitions, stack)]),
    );
  }
  if (schema.items) out.items = withListMapKeyDefaults(convert(schema.items, definitions, stack), schema);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    out.additionalProperties = convert(schema.additionalProperties, definitions, stack);
  }
  return withDefault(out, schema.default);
}

/**
 * The API server requires every key of a list-map to be required or defaulted. Some keys carry
 * only a zero-value default in the documents (an image pull secret's name is ""), which the rule
 * above dropped; give those back their zero value.
 */
function withListMapKeyDefaults(items: JsonSchema, list: JsonSchema): JsonSchema {
  const keys = list['x-kubernetes-list-map-keys'] ?? [];
  const properties = { ...items.properties };
  for (const key of keys) {
    const property = properties[key];
    if (!property || items.required?.includes(key) || property.default !== undefined) continue;
    properties[key] = { ...property, default: property.type === 'string' ? '' : 0 };
  }
  return keys.length ? { ...items, properties } : items;
}

function withDefault(schema: JsonSchema, value: unknown): JsonSchema {
  return value === undefined || isZeroValue(value) ? schema : { ...schema, default: value };
}

function resolveNamed(name: string, definitions: Definitions, stack: readonly string[]): JsonSchema {
  if (name === QUANTITY || name === INT_OR_STRING) {
    return { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
  }
  // Embedded ObjectMeta (e.g. an ephemeral volume's claim template) is kept whole, as the API
  // server does for metadata of embedded resources.
  if (name === OBJECT_META) return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  if (stack.includes(name)) throw new Error(`recursive Kubernetes type ${[...stack, name].join(' → ')}`);
  const definition = definitions[name];
  if (!definition) throw new Error(`the Kubernetes OpenAPI documents define no ${name}`);
  return convert(definition, definitions, [...stack, name]);
}
