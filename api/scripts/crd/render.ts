/** Builds a CustomResourceDefinition object from a `CrdDefinition`. Pure. */
import type { CrdDefinition } from '../../src/crd-definition.js';
import type { Definitions, JsonSchema } from './openapi.js';
import { structuralSchema } from './structural.js';

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
}

export function renderCrd(def: CrdDefinition, definitions: Definitions): CustomResourceDefinition {
  const objectSchema = structuralSchema(def.schema, definitions);
  const props = objectSchema.properties ?? {};
  const spec = props.spec;
  if (!spec) throw new Error(`${def.kind}: schema has no spec`);
  const schema: JsonSchema = {
    description: def.description,
    type: 'object',
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion of this object.' },
      kind: { type: 'string', description: 'Kind of this object.' },
      metadata: { type: 'object' },
      spec,
      ...(props.status ? { status: props.status } : {}),
    },
    required: ['spec'],
  };
  const subresources: Record<string, unknown> = {};
  if (def.subresources.status) subresources.status = {};
  if (def.subresources.scale) subresources.scale = { ...def.subresources.scale };

  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${def.group}`,
      labels: { 'app.kubernetes.io/part-of': 'sandbank' },
    },
    spec: {
      group: def.group,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: ['sandbank'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: def.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          ...(Object.keys(subresources).length ? { subresources } : {}),
          additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })),
        },
      ],
    },
  };
}
