/**
 * What a v1beta1 claim asks for: a named pool (`spec.warmPoolRef`), or — for a claim written as
 * v1alpha1 — the template and warm-pool policy the conversion webhook recorded in the
 * `conversion.sandbank.dev/v1alpha1` annotation. The only place the controller reads that
 * annotation. Pure.
 */
import { z } from 'zod';
import type { SandboxClaim, Stored } from '@sandbank/api';

export const ALPHA_FIELDS_ANNOTATION = 'conversion.sandbank.dev/v1alpha1';

export type ClaimIntent =
  | {
      /** The pool to take a warm Pod from (and, without `template`, whose template to use). */
      readonly pool?: string;
      /** The template a v1alpha1 claim named. */
      readonly template?: string;
      /** `pool`: only that pool; `any`: any pool of the template; `none`: always cold. */
      readonly warm: 'pool' | 'any' | 'none';
    }
  | { readonly invalid: string };

const AlphaFields = z.looseObject({
  sandboxTemplateRef: z.looseObject({ name: z.string().min(1) }).optional(),
  warmpool: z.string().min(1).optional(),
});

export function claimIntent(claim: Readonly<Stored<SandboxClaim>>): ClaimIntent {
  const poolRef = claim.spec.warmPoolRef?.name || undefined;
  const raw = claim.metadata.annotations?.[ALPHA_FIELDS_ANNOTATION];
  const alpha = raw === undefined ? undefined : parseAlpha(raw);
  if (alpha === 'corrupt') {
    return { invalid: `metadata.annotations[${ALPHA_FIELDS_ANNOTATION}] is not the JSON the webhook writes` };
  }
  const template = alpha?.sandboxTemplateRef?.name;
  if (template === undefined) {
    return poolRef === undefined
      ? { invalid: 'spec.warmPoolRef.name is required' }
      : { pool: poolRef, warm: 'pool' };
  }
  // warmPoolRef, when set, wins over what the annotation recorded: a v1beta1 client changed it.
  if (poolRef !== undefined) return { pool: poolRef, template, warm: 'pool' };
  const policy = alpha?.warmpool ?? 'default';
  if (policy === 'none') return { template, warm: 'none' };
  if (policy === 'default') return { template, warm: 'any' };
  return { pool: policy, template, warm: 'pool' };
}

function parseAlpha(raw: string): z.infer<typeof AlphaFields> | 'corrupt' {
  try {
    const parsed = AlphaFields.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : 'corrupt';
  } catch {
    return 'corrupt';
  }
}
