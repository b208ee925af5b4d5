/** Spec pieces shared by several kinds: pod templates, volume claim templates, references. */
import { z } from 'zod';
import { EmbeddedObjectMetadata, ObjectMeta, PodMetadata } from '../meta.js';
import { PersistentVolumeClaimSpec, PodSpec } from '../kubernetes-types.js';
import { Dns1123Subdomain } from '../names.js';

/** A pod template: the Pod spec plus the labels and annotations to put on the Pod. */
export const PodTemplate = z.strictObject({
  metadata: PodMetadata.optional(),
  spec: PodSpec,
});
export type PodTemplate = z.infer<typeof PodTemplate>;

/** One PersistentVolumeClaim to create per sandbox, named `<metadata.name>-<sandbox name>`. */
export const PersistentVolumeClaimTemplate = z.strictObject({
  metadata: EmbeddedObjectMetadata,
  spec: PersistentVolumeClaimSpec,
});
export type PersistentVolumeClaimTemplate = z.infer<typeof PersistentVolumeClaimTemplate>;

export const VolumeClaimTemplates = z
  .array(PersistentVolumeClaimTemplate)
  .meta({ 'x-kubernetes-list-type': 'atomic' });

/** Reference to a SandboxTemplate in the same namespace. */
export const SandboxTemplateRef = z.strictObject({
  name: Dns1123Subdomain.describe('Name of a SandboxTemplate in the same namespace.'),
});
export type SandboxTemplateRef = z.infer<typeof SandboxTemplateRef>;

/** RFC 3339 timestamp with a time zone, as metav1.Time serializes. */
export const Timestamp = z.iso.datetime({ offset: true });

/** int32 fields: what the Go types upstream use, so limits match. */
export const int32 = () => z.int32();

/**
 * Envelope of a custom resource: apiVersion and kind (defaulted, since list items may omit them),
 * metadata, spec and optional status.
 */
export function resourceSchema<Spec extends z.ZodType, Status extends z.ZodType>(
  apiVersion: string,
  kind: string,
  spec: Spec,
  status: Status,
) {
  return z.strictObject({
    apiVersion: z.literal(apiVersion).default(apiVersion),
    kind: z.literal(kind).default(kind),
    metadata: ObjectMeta,
    spec,
    status: status.optional(),
  });
}

/** Same as `resourceSchema` for kinds without status. */
export function statuslessResourceSchema<Spec extends z.ZodType>(
  apiVersion: string,
  kind: string,
  spec: Spec,
) {
  return z.strictObject({
    apiVersion: z.literal(apiVersion).default(apiVersion),
    kind: z.literal(kind).default(kind),
    metadata: ObjectMeta,
    spec,
  });
}

/**
 * CEL rule keeping a Sandbox's volumeClaimTemplates as created (its PVCs are made once), in every
 * version that has the field.
 */
export const VOLUME_CLAIM_TEMPLATES_IMMUTABLE = {
  rule: 'has(self.volumeClaimTemplates) == has(oldSelf.volumeClaimTemplates) && (!has(self.volumeClaimTemplates) || self.volumeClaimTemplates == oldSelf.volumeClaimTemplates)',
  message: 'volumeClaimTemplates is immutable',
} as const;
