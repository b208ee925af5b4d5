/**
 * What the CRD generator needs to know about one custom resource besides its schema: names,
 * subresources and printer columns. Declared next to each schema in `crds/`.
 */
import type { z } from 'zod';

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

export interface CrdDefinition {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  /** One-line description shown by `kubectl explain`. */
  readonly description: string;
  /** The whole object: apiVersion, kind, metadata, spec, status. */
  readonly schema: z.ZodType;
  readonly subresources: {
    readonly status: boolean;
    readonly scale?: {
      readonly specReplicasPath: string;
      readonly statusReplicasPath: string;
      readonly labelSelectorPath: string;
    };
  };
  readonly printerColumns: readonly PrinterColumn[];
}

/** `group/version` as written in `apiVersion`. */
export function apiVersionOf(def: Pick<CrdDefinition, 'group' | 'version'>): string {
  return `${def.group}/${def.version}`;
}

/**
 * Where the API server sends ConversionReviews for the CRDs that serve two versions: the Service
 * of the webhook Deployment `sandbank-webhook`. The CRD files name it without a `caBundle`; the
 * webhook fills that in itself, so re-applying the files never blanks it.
 */
export const CONVERSION_WEBHOOK = {
  namespace: 'sandbank-system',
  service: 'sandbank-webhook',
  port: 443,
  path: '/convert',
} as const;

/** The two versions of one kind a CRD serves: v1beta1 (storage) and v1alpha1 (served). */
export interface CrdVersionPair {
  readonly beta: CrdDefinition;
  readonly alpha: CrdDefinition;
}
