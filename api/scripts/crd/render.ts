/** Builds a CustomResourceDefinition object from `CrdDefinition`s (one per served version). Pure. */
import { CONVERSION_WEBHOOK, type CrdDefinition, type CrdVersionPair } from '../../src/crd-definition.js';
import type { Definitions, JsonSchema } from './openapi.js';
import { structuralSchema } from './structural.js';

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
}

/** One entry of `spec.versions`. */
export interface CrdVersionEntry {
  name: string;
  served: boolean;
  storage: boolean;
  schema: { openAPIV3Schema: JsonSchema };
  subresources?: Record<string, unknown>;
  additionalPrinterColumns: Record<string, unknown>[];
}

/** A CRD serving and storing the single version of `def`. */
export function renderCrd(def: CrdDefinition, definitions: Definitions): CustomResourceDefinition {
  return crdObject(def, def.shortNames, [versionEntry(def, definitions, { served: true, storage: true })]);
}

/**
 * The CRD of one kind serving both versions: v1beta1 first and stored, v1alpha1 served, converted
 * by the controller's webhook (`CONVERSION_WEBHOOK`, no caBundle key). `only` renders the
 * single-version CRD instead: v1alpha1 is what Sandbank shipped before, v1beta1 what upstream v1.0
 * ships (both used by storage-migration tests).
 */
export function renderCrdVersions(
  defs: CrdVersionPair,
  definitions: Definitions,
  options: { only?: 'v1alpha1' | 'v1beta1' } = {},
): CustomResourceDefinition {
  const { beta, alpha } = defs;
  if (options.only === 'v1alpha1') return renderCrd(alpha, definitions);
  if (options.only === 'v1beta1') return renderCrd(beta, definitions);
  for (const field of ['group', 'kind', 'plural', 'singular'] as const) {
    if (beta[field] !== alpha[field]) {
      throw new Error(`${beta.kind}: versions disagree on ${field} (${beta[field]} vs ${alpha[field]})`);
    }
  }
  if (beta.version === alpha.version) throw new Error(`${beta.kind}: both versions are ${beta.version}`);
  const shortNames = [...new Set([...beta.shortNames, ...alpha.shortNames])];
  const crd = crdObject(beta, shortNames, [
    versionEntry(beta, definitions, { served: true, storage: true }),
    versionEntry(alpha, definitions, { served: true, storage: false }),
  ]);
  crd.spec.conversion = {
    strategy: 'Webhook',
    webhook: {
      conversionReviewVersions: ['v1'],
      clientConfig: {
        service: {
          namespace: CONVERSION_WEBHOOK.namespace,
          name: CONVERSION_WEBHOOK.service,
          port: CONVERSION_WEBHOOK.port,
          path: CONVERSION_WEBHOOK.path,
        },
      },
    },
  };
  return crd;
}

/**
 * Pairs two lists of definitions (one per version) by kind, failing when a kind lacks its other
 * version, so no CRD silently loses one.
 */
export function pairCrdDefinitions(
  betas: readonly CrdDefinition[],
  alphas: readonly CrdDefinition[],
): CrdVersionPair[] {
  if (betas.length !== alphas.length) throw new Error('every kind needs both versions');
  return betas.map((beta) => {
    const alpha = alphas.find((a) => a.group === beta.group && a.kind === beta.kind);
    if (!alpha) throw new Error(`${beta.kind} has no v1alpha1 definition`);
    return { beta, alpha };
  });
}

function versionEntry(
  def: CrdDefinition,
  definitions: Definitions,
  flags: { served: boolean; storage: boolean },
): CrdVersionEntry {
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
    name: def.version,
    served: flags.served,
    storage: flags.storage,
    schema: { openAPIV3Schema: schema },
    ...(Object.keys(subresources).length ? { subresources } : {}),
    additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })),
  };
}

function crdObject(
  def: CrdDefinition,
  shortNames: readonly string[],
  versions: CrdVersionEntry[],
): CustomResourceDefinition {
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
        shortNames: [...shortNames],
        categories: ['sandbank'],
      },
      scope: 'Namespaced',
      versions,
    },
  };
}
