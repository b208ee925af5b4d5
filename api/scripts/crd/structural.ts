/**
 * zod schema → CRD structural schema (OpenAPI v3 as the API server accepts it). zod's own JSON
 * Schema output is the starting point; this pass removes what structural schemas forbid and
 * swaps every embedded Kubernetes type (marked with `k8sRef`) for its real schema. Pure.
 */
import { z } from 'zod';
import { K8S_REF } from '../../src/kubernetes-types.js';
import { inlineDefinition } from './kubernetes-definitions.js';
import type { Definitions, JsonSchema } from './openapi.js';

export function structuralSchema(schema: z.ZodType, definitions: Definitions): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    target: 'openapi-3.0',
    unrepresentable: 'throw',
  }) as JsonSchema;
  return clean(json, definitions);
}

function clean(node: JsonSchema, definitions: Definitions): JsonSchema {
  const ref = node[K8S_REF];
  if (typeof ref === 'string') {
    const inlined = inlineDefinition(ref, definitions);
    return node.description ? { description: node.description, ...inlined } : inlined;
  }

  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema') continue;
    if (key === 'additionalProperties') {
      // `false` (strict objects) and `{}` (loose objects) are both expressed by pruning in a
      // structural schema; only typed maps keep additionalProperties.
      if (value === false || (typeof value === 'object' && value !== null && Object.keys(value).length === 0))
        continue;
      out.additionalProperties = clean(value as JsonSchema, definitions);
      continue;
    }
    if (key === 'pattern' && node.format === 'date-time') continue; // the server checks the format itself
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, JsonSchema>).map(([name, child]) => [
          name,
          clean(child, definitions),
        ]),
      );
      continue;
    }
    if (key === 'items') {
      out.items = clean(value as JsonSchema, definitions);
      continue;
    }
    if (key === 'anyOf' || key === 'oneOf' || key === 'allOf') {
      throw new Error(
        `${key} is not structural; model the field without unions (${JSON.stringify(node).slice(0, 120)})`,
      );
    }
    out[key] = value;
  }
  if (out.type === 'integer' && out.format === undefined) out.format = integerFormat(out);
  return out;
}

/** zod writes int32 as bounds; Kubernetes tools read the `format`. */
function integerFormat(node: JsonSchema): string {
  const INT32_MAX = 2147483647;
  return node.maximum !== undefined && node.maximum <= INT32_MAX ? 'int32' : 'int64';
}
