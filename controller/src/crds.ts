/**
 * Sandbank's own CustomResourceDefinitions as the controller and the webhook read them from the
 * API server: their names, and one schema for the parts of a CRD either of them looks at (the
 * webhook: versions served and the conversion stanza; the storage migration: group, scope,
 * names, the storage version's subresources and `status.storedVersions`).
 */
import { crdDefinitions } from '@sandbank/api';
import { CUSTOM_RESOURCE_DEFINITIONS } from '@sandbank/kube';
import type { KubeClient, KubeObject } from '@sandbank/kube';
import { z } from 'zod';

/** The CRDs Sandbank serves (`<plural>.<group>`), in the order the CRD files are written. */
export const SANDBANK_CRDS: readonly string[] = crdDefinitions.map((def) => `${def.plural}.${def.group}`);

export const Crd = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string() }),
  spec: z.looseObject({
    group: z.string(),
    scope: z.enum(['Namespaced', 'Cluster']),
    names: z.looseObject({ plural: z.string(), kind: z.string() }),
    versions: z.array(
      z.looseObject({
        name: z.string(),
        served: z.boolean(),
        storage: z.boolean(),
        subresources: z.looseObject({ status: z.unknown().optional() }).optional(),
      }),
    ),
    conversion: z
      .looseObject({
        strategy: z.string().optional(),
        webhook: z
          .looseObject({
            conversionReviewVersions: z.array(z.string()).optional(),
            clientConfig: z
              .looseObject({
                url: z.string().optional(),
                caBundle: z.string().optional(),
                service: z
                  .looseObject({
                    namespace: z.string(),
                    name: z.string(),
                    path: z.string().optional(),
                    port: z.number().optional(),
                  })
                  .optional(),
              })
              .optional(),
          })
          .optional(),
      })
      .optional(),
  }),
  status: z.looseObject({ storedVersions: z.array(z.string()).optional() }).optional(),
});
export type Crd = z.infer<typeof Crd>;

/**
 * The CRD `name`, checked; undefined when it does not exist. Throws naming the CRD and the first
 * field that does not fit; API failures are thrown as they come (KubeError).
 */
export async function readCrd(client: KubeClient, name: string): Promise<Crd | undefined> {
  const stored = await client.get<KubeObject, false>(CUSTOM_RESOURCE_DEFINITIONS, '', name);
  if (stored === undefined) return undefined;
  const parsed = Crd.safeParse(stored);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`CRD ${name}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'unreadable'}`);
  }
  return parsed.data;
}
