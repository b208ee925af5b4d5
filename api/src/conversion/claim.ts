/**
 * SandboxClaim: v1alpha1 names a template (`sandboxTemplateRef`) and a warm-pool policy
 * (`warmpool`: default | none | a pool name); v1beta1 names only a pool (`warmPoolRef`) and adds
 * `volumeClaimTemplates`.
 *
 * - A specific pool is `warmPoolRef` in v1beta1. The template, and a `default`/`none` policy,
 *   travel in `conversion.sandbank.dev/v1alpha1`, written only when the v1beta1 object alone would
 *   not give them back (so claims created through v1beta1 carry no annotation).
 * - `volumeClaimTemplates`, and a `warmPoolRef` that v1alpha1 cannot say (a pool literally named
 *   `default` or `none`), travel in `conversion.sandbank.dev/v1beta1`.
 * - On the way to v1alpha1, `warmPoolRef` wins over what the annotation recorded: it is the field a
 *   v1beta1 client edits. Without our annotation, upstream v0.5's state annotation is read.
 *
 * `recoverAlphaClaimFields` is the one reading of a v1beta1 claim's v1alpha1 intent; the
 * conversion and `claimIntent()` both use it, so what a v1alpha1 client sees is what the
 * controller does.
 */
import { WARM_POOL_DEFAULT, WARM_POOL_NONE } from '../crds/sandbox-claim.js';
import {
  ConversionAnnotations,
  hasAnnotation,
  isRecord,
  partsOf,
  readJsonAnnotation,
  withJsonAnnotation,
  withParts,
  type JsonObject,
} from './annotations.js';

const ALPHA_KEY = ConversionAnnotations.v1alpha1Fields;
const BETA_KEY = ConversionAnnotations.v1beta1Fields;
const V05_KEY = ConversionAnnotations.upstreamV05ClaimState;

/** The v1alpha1-only fields of a claim: `sandboxTemplateRef.name` and `warmpool`. */
export interface AlphaClaimFields {
  template?: string;
  warmpool?: string;
}

/** Where recovered fields came from, to name it in messages. */
export type AlphaFieldsSource = typeof ALPHA_KEY | typeof V05_KEY | 'spec.warmPoolRef';

/** `default` and `none` are policies in v1alpha1, so a pool of that name needs the annotation. */
export function isPolicyWord(name: string): boolean {
  return name === WARM_POOL_DEFAULT || name === WARM_POOL_NONE;
}

function nameOf(ref: unknown): string | undefined {
  return isRecord(ref) && typeof ref.name === 'string' && ref.name !== '' ? ref.name : undefined;
}

/** The two fields as a v1alpha1 spec (or an annotation of ours, or upstream's state) holds them. */
function fieldsOf(spec: JsonObject, where: string, warnings: string[]): AlphaClaimFields {
  const fields: AlphaClaimFields = {};
  const template = nameOf(spec.sandboxTemplateRef);
  if (template !== undefined) fields.template = template;
  else if (spec.sandboxTemplateRef !== undefined && spec.sandboxTemplateRef !== null) {
    warnings.push(`${where}: sandboxTemplateRef has no name; ignored`);
  }
  if (typeof spec.warmpool === 'string' && spec.warmpool !== '') fields.warmpool = spec.warmpool;
  else if (spec.warmpool !== undefined && spec.warmpool !== null) {
    warnings.push(`${where}: warmpool ${JSON.stringify(spec.warmpool)} is not a name; ignored`);
  }
  return fields;
}

/** What the annotations recorded: ours first; upstream v0.5's whole-claim copy when ours is absent or corrupt. */
function recordedAlphaFields(
  metadata: JsonObject | undefined,
  warnings: string[],
): { fields: AlphaClaimFields; source?: AlphaFieldsSource } {
  const ours = readJsonAnnotation(metadata, ALPHA_KEY);
  if (ours.warning) warnings.push(ours.warning);
  if (ours.value)
    return { fields: fieldsOf(ours.value, `annotation ${ALPHA_KEY}`, warnings), source: ALPHA_KEY };
  const upstream = readJsonAnnotation(metadata, V05_KEY);
  if (upstream.warning) warnings.push(upstream.warning);
  const spec = upstream.value?.spec;
  if (isRecord(spec)) return { fields: fieldsOf(spec, `annotation ${V05_KEY}`, warnings), source: V05_KEY };
  return { fields: {} };
}

/**
 * The v1alpha1 `sandboxTemplateRef.name` and `warmpool` of a v1beta1 claim: the template as
 * recorded; the pool from `warmPoolRef` when v1alpha1 can say it, else the recorded policy (a
 * recorded pool name only when the claim has no `warmPoolRef` at all).
 */
export function recoverAlphaClaimFields(
  metadata: JsonObject | undefined,
  spec: JsonObject | undefined,
  warnings: string[],
): { fields: AlphaClaimFields; source?: AlphaFieldsSource; warmpoolSource?: AlphaFieldsSource } {
  const recorded = recordedAlphaFields(metadata, warnings);
  const fields: AlphaClaimFields = {};
  if (recorded.fields.template !== undefined) fields.template = recorded.fields.template;
  const ref = spec?.warmPoolRef;
  const refName = nameOf(ref);
  const base = recorded.source ? { source: recorded.source } : {};
  if (refName !== undefined && !isPolicyWord(refName)) {
    fields.warmpool = refName;
    return { fields, ...base, warmpoolSource: 'spec.warmPoolRef' };
  }
  const policy = recorded.fields.warmpool;
  if (policy !== undefined && (ref === undefined || isPolicyWord(policy))) {
    fields.warmpool = policy;
    return { fields, ...base, ...(recorded.source ? { warmpoolSource: recorded.source } : {}) };
  }
  return { fields, ...base };
}

function sameFields(a: AlphaClaimFields, b: AlphaClaimFields): boolean {
  return a.template === b.template && a.warmpool === b.warmpool;
}

export function claimToAlpha(obj: JsonObject, warnings: string[]): JsonObject {
  const { metadata, spec } = partsOf(obj);
  const { fields } = recoverAlphaClaimFields(metadata, spec, warnings);
  // Our v1beta1 annotation on a v1beta1 object is nobody's data: replaced, so it cannot come back
  // as fields on the way in. Our v1alpha1 annotation is consumed into fields.
  let next = withJsonAnnotation(metadata, BETA_KEY, undefined);
  if (next !== metadata) warnings.push(`annotation ${BETA_KEY} on a v1beta1 object replaced`);
  next = withJsonAnnotation(next, ALPHA_KEY, undefined);
  if (!spec) return withParts(obj, next, spec);

  const { warmPoolRef, volumeClaimTemplates, ...rest } = spec;
  const alphaSpec: JsonObject = { ...rest };
  if (fields.template !== undefined) alphaSpec.sandboxTemplateRef = { name: fields.template };
  if (fields.warmpool !== undefined) alphaSpec.warmpool = fields.warmpool;

  const carried: JsonObject = {};
  if (volumeClaimTemplates !== undefined) carried.volumeClaimTemplates = volumeClaimTemplates;
  const refName = nameOf(warmPoolRef);
  if (warmPoolRef !== undefined && (refName === undefined || isPolicyWord(refName))) {
    carried.warmPoolRef = warmPoolRef;
  }
  if (Object.keys(carried).length > 0) next = withJsonAnnotation(next, BETA_KEY, carried);
  return withParts(obj, next, alphaSpec);
}

export function claimToBeta(obj: JsonObject, warnings: string[]): JsonObject {
  const { metadata, spec } = partsOf(obj);
  const carried = readJsonAnnotation(metadata, BETA_KEY);
  if (carried.warning) warnings.push(carried.warning);
  let next = withJsonAnnotation(metadata, BETA_KEY, undefined);
  if (hasAnnotation(next, ALPHA_KEY)) warnings.push(`annotation ${ALPHA_KEY} on a v1alpha1 object replaced`);
  next = withJsonAnnotation(next, ALPHA_KEY, undefined);
  if (!spec) return withParts(obj, next, spec);

  const { sandboxTemplateRef, warmpool, ...rest } = spec;
  const betaSpec: JsonObject = { ...rest };
  let carriedRef: unknown;
  for (const [key, value] of Object.entries(carried.value ?? {})) {
    if (key === 'volumeClaimTemplates') {
      if (!Object.hasOwn(betaSpec, key)) betaSpec.volumeClaimTemplates = value;
    } else if (key === 'warmPoolRef') carriedRef = value;
    else warnings.push(`annotation ${BETA_KEY}: unknown field ${key} dropped`);
  }

  const wanted = fieldsOf({ sandboxTemplateRef, warmpool }, 'spec', warnings);
  if (wanted.warmpool !== undefined && !isPolicyWord(wanted.warmpool)) {
    betaSpec.warmPoolRef = { name: wanted.warmpool };
  } else if (carriedRef !== undefined) {
    const carriedName = nameOf(carriedRef);
    // Only what v1alpha1 cannot say was put there; anything else is stale.
    if (carriedName === undefined || isPolicyWord(carriedName)) betaSpec.warmPoolRef = carriedRef;
    else warnings.push(`annotation ${BETA_KEY}: warmPoolRef ${carriedName} is a plain pool name; ignored`);
  }

  if (!sameFields(wanted, recoverAlphaClaimFields(next, betaSpec, []).fields)) {
    const payload: JsonObject = {};
    if (wanted.template !== undefined) payload.sandboxTemplateRef = { name: wanted.template };
    if (wanted.warmpool !== undefined && isPolicyWord(wanted.warmpool)) payload.warmpool = wanted.warmpool;
    next = withJsonAnnotation(next, ALPHA_KEY, payload);
  }
  return withParts(obj, next, betaSpec);
}
