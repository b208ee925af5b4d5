/**
 * What a claim asks for, read from a v1beta1 claim: which pool, which template, and whether a
 * warm start is wanted. The controller reads the `conversion.sandbank.dev/v1alpha1` annotation
 * only through this function, and it reads it exactly as the conversion to v1alpha1 does, so a
 * v1alpha1 client sees the intent the controller acts on.
 */
import { recoverAlphaClaimFields } from './conversion/claim.js';
import { ConversionAnnotations } from './conversion/annotations.js';
import { WARM_POOL_DEFAULT, WARM_POOL_NONE, WarmPoolPolicy } from './crds/sandbox-claim.js';
import { Dns1123Subdomain } from './names.js';

export interface ClaimIntent {
  /** The pool to take a warm Pod from (`warm: 'pool'`); its template is the claim's template. */
  readonly pool?: string;
  /** The template named through v1alpha1 (required unless `pool` is set). */
  readonly template?: string;
  /** `pool`: that pool only; `any`: any ready pool of the template, else cold; `none`: always cold. */
  readonly warm: 'pool' | 'any' | 'none';
}

export type ClaimIntentResult = ClaimIntent | { readonly invalid: string };

/** The parts of a v1beta1 claim the intent depends on. */
export interface ClaimIntentInput {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> | undefined } | undefined;
  readonly spec: { readonly warmPoolRef?: { readonly name: string } | undefined };
}

const ANNOTATION = ConversionAnnotations.v1alpha1Fields;

function where(source: string | undefined): string {
  return source === 'spec.warmPoolRef' || source === undefined
    ? 'spec.warmPoolRef.name'
    : `metadata.annotations[${source}]`;
}

export function claimIntent(claim: ClaimIntentInput): ClaimIntentResult {
  const metadata = claim.metadata ? { annotations: claim.metadata.annotations } : undefined;
  const spec = { warmPoolRef: claim.spec.warmPoolRef };
  const ignored: string[] = [];
  const { fields, source, warmpoolSource } = recoverAlphaClaimFields(metadata, spec, ignored);

  let template: string | undefined;
  if (fields.template !== undefined) {
    if (!Dns1123Subdomain.safeParse(fields.template).success) {
      return {
        invalid: `${where(source)}: sandboxTemplateRef.name ${JSON.stringify(fields.template)} is not a DNS-1123 subdomain`,
      };
    }
    template = fields.template;
  }
  const withTemplate = template === undefined ? {} : { template };

  const ref = claim.spec.warmPoolRef?.name;
  if (ref !== undefined) {
    if (!Dns1123Subdomain.safeParse(ref).success) {
      return { invalid: `spec.warmPoolRef.name: ${JSON.stringify(ref)} is not a DNS-1123 subdomain` };
    }
    return { pool: ref, ...withTemplate, warm: 'pool' };
  }

  const policy = fields.warmpool ?? WARM_POOL_DEFAULT;
  if (!WarmPoolPolicy.safeParse(policy).success) {
    return {
      invalid: `${where(warmpoolSource)}: warmpool ${JSON.stringify(policy)} is not "default", "none" or a pool name`,
    };
  }
  if (policy !== WARM_POOL_DEFAULT && policy !== WARM_POOL_NONE)
    return { pool: policy, ...withTemplate, warm: 'pool' };
  if (template === undefined) {
    const damaged = ignored.length > 0 ? ` (${ignored.join('; ')})` : '';
    return {
      invalid: `spec.warmPoolRef: required: the claim names no pool, and no template through annotation ${ANNOTATION}${damaged}`,
    };
  }
  return { ...withTemplate, warm: policy === WARM_POOL_NONE ? 'none' : 'any' };
}
